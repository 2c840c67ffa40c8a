# Every existing user becomes a person of their own, and every staff role they held
# through a group becomes an explicit grant (made by this migration, so approved by no
# one: a bootstrap grant, recorded as such). From here on a group confers no money role.

from django.db import migrations
from django.utils import timezone

ROLES = ("operator", "approver", "admin")


def forwards(apps, schema_editor):
    User = apps.get_model("accounts", "User")
    Person = apps.get_model("accounts", "Person")
    RoleGrant = apps.get_model("accounts", "RoleGrant")
    now = timezone.now()
    for user in User.objects.filter(person__isnull=True).order_by("pk"):
        name = f"{user.first_name} {user.last_name}".strip() or user.username
        user.person = Person.objects.create(name=name)
        user.save(update_fields=["person"])
        for role in user.groups.filter(name__in=ROLES).values_list("name", flat=True):
            RoleGrant.objects.get_or_create(
                person=user.person,
                role=role,
                revoked_at=None,
                defaults={
                    "approved_at": now,
                    "reason": f"held through the group {role!r} before grants existed",
                },
            )


class Migration(migrations.Migration):

    dependencies = [
        ("accounts", "0014_people_grants_decisions"),
    ]

    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
