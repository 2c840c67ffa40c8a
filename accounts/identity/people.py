"""Every change to a person, whatever made it: the admin, a command, a service, a shell.

Model signals are the one place that sees them all, so the audit trail and the
cool-off rule listen here rather than in each screen. The rule: when someone other
than the user sets their password, creates or removes their second factor, or grants
them the approver role, the user may not approve for APPROVAL_COOLOFF_HOURS; a reset
password also removes the user's authenticators, so the next sign-in enrols anew.
"""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth.models import Group, Permission
from django.db import transaction
from django.db.models.signals import m2m_changed, post_delete, post_save, pre_save
from django.utils import timezone
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts.identity import audit, roles
from accounts.identity.actions import AuditAction
from accounts.identity.models import Person, User
from outbox import mail

# What the trail compares before and after a user is saved; never the password's hash.
WATCHED = (
    "username",
    "email",
    "first_name",
    "last_name",
    "is_active",
    "is_staff",
    "is_superuser",
    "merchant_id",
)


def _by_someone_else(user_id: int) -> bool:
    actor = audit.current_actor()
    return actor.user is None or actor.user.pk != user_id


def bar_from_approving(user_id: int, *, why: str) -> None:
    """No approval by this user before the cool-off has passed (never shortened)."""
    until = timezone.now() + timedelta(hours=settings.APPROVAL_COOLOFF_HOURS)
    barred = User.objects.filter(pk=user_id).values_list("approval_barred_until", flat=True)
    current = barred.first()
    if current is None or current < until:
        User.objects.filter(pk=user_id).update(approval_barred_until=until)
    audit.record(
        actor=audit.current_actor(),
        action=AuditAction.USER_APPROVAL_BARRED,
        target=User.objects.filter(pk=user_id).first(),
        until=until.isoformat(),
        why=why,
    )


def _fields(user: User) -> dict[str, Any]:
    return {name: getattr(user, name) for name in WATCHED}


def on_user_pre_save(sender: Any, instance: User, raw: bool = False, **_: Any) -> None:
    if not raw and instance.person_id is None:
        # A new sign-in is a new person unless whoever creates it links it to one.
        instance.person = Person.objects.create(name=instance.get_full_name() or instance.username)
    if raw or instance._state.adding or instance.pk is None:
        instance._audit_before = None  # type: ignore[attr-defined]
        return
    old = User.objects.filter(pk=instance.pk).values(*WATCHED, "password").first()
    instance._audit_before = old  # type: ignore[attr-defined]


def on_user_saved(sender: Any, instance: User, created: bool, raw: bool = False, **_: Any) -> None:
    if raw:
        return
    actor = audit.current_actor()
    if created:
        audit.record(
            actor=actor, action=AuditAction.USER_CREATE, target=instance, after=_fields(instance)
        )
        return
    old = getattr(instance, "_audit_before", None)
    if old is None:
        return
    password_changed = old.pop("password") != instance.password
    after = _fields(instance)
    before = {name: value for name, value in old.items() if after[name] != value}
    after = {name: after[name] for name in before}
    if before:
        audit.record(
            actor=actor, action=AuditAction.USER_CHANGE, target=instance, before=before, after=after
        )
    if password_changed:
        by_other = _by_someone_else(instance.pk)
        audit.record(
            actor=actor,
            action=AuditAction.USER_PASSWORD_RESET
            if by_other
            else AuditAction.USER_PASSWORD_CHANGE,
            target=instance,
        )
        if by_other:
            # Forces a new enrolment: whoever set the password must not also hold the code.
            for device in TOTPDevice.objects.filter(user_id=instance.pk):
                device.delete()
            bar_from_approving(instance.pk, why="password set by someone else")
            _tell_user(instance, "Your password was reset by someone else")


def on_device_saved(
    sender: Any, instance: TOTPDevice, created: bool, raw: bool = False, **_: Any
) -> None:
    if raw or not created:
        return  # every verified code saves the device: not a change of the person
    audit.record(
        actor=audit.current_actor(),
        action=AuditAction.OTP_DEVICE_CREATE,
        target=instance.user,
        after={"device": instance.pk, "name": instance.name, "confirmed": instance.confirmed},
    )
    if _by_someone_else(instance.user_id):
        bar_from_approving(instance.user_id, why="authenticator created by someone else")


def on_device_deleted(sender: Any, instance: TOTPDevice, **_: Any) -> None:
    user = User.objects.filter(pk=instance.user_id).first()
    if user is None:
        return  # the user is being deleted with it
    audit.record(
        actor=audit.current_actor(),
        action=AuditAction.OTP_DEVICE_DELETE,
        target=user,
        before={"device": instance.pk, "name": instance.name, "confirmed": instance.confirmed},
    )
    if _by_someone_else(instance.user_id):
        bar_from_approving(instance.user_id, why="authenticator removed by someone else")
        _tell_user(user, "Your authenticator was removed by someone else")


def _names(model: Any, pks: Any) -> list[str]:
    if model is Permission:
        return sorted(
            f"{app}.{code}"
            for app, code in Permission.objects.filter(pk__in=pks).values_list(
                "content_type__app_label", "codename"
            )
        )
    if model is Group:
        return sorted(Group.objects.filter(pk__in=pks).values_list("name", flat=True))
    return sorted(str(pk) for pk in pks)


def _relation_changed(what: AuditAction, field: str) -> Any:
    """An m2m_changed receiver for a user's (or a group's) `field`, recorded as `what`."""

    def receiver(
        sender: Any, instance: Any, action: str, reverse: bool, model: Any, pk_set: Any, **_: Any
    ) -> None:
        if action == "pre_clear":
            instance._audit_cleared = list(getattr(instance, field).values_list("pk", flat=True))
            return
        if action not in ("post_add", "post_remove", "post_clear"):
            return
        if action == "post_clear":
            pk_set = set(getattr(instance, "_audit_cleared", []))
        if not pk_set:
            return
        actor = audit.current_actor()
        verb = "added" if action == "post_add" else "removed"
        if reverse:
            if what == "group.permissions":
                return  # permission.group_set: not a change the hub makes
            # group.user_set.add(user): one event per user, seen from the user.
            for user in User.objects.filter(pk__in=pk_set):
                _record_one(actor, what, user, verb, [str(instance)], field)
                if what == "user.groups" and verb == "added" and instance.name == roles.APPROVER:
                    bar_from_approving(user.pk, why="approver role granted")
            return
        names = _names(model, pk_set)
        _record_one(actor, what, instance, verb, names, field)
        if (
            what == "user.groups"
            and verb == "added"
            and roles.APPROVER in names
            and isinstance(instance, User)
        ):
            bar_from_approving(instance.pk, why="approver role granted")

    return receiver


def _record_one(
    actor: audit.Actor, what: AuditAction, target: Any, verb: str, names: list, field: str
):
    now = _names(getattr(target, field).model, getattr(target, field).values_list("pk", flat=True))
    if verb == "added":
        before = sorted(set(now) - set(names))
    else:
        before = sorted(set(now) | set(names))
    audit.record(
        actor=actor,
        action=what,
        target=target,
        before={field: before},
        after={field: now},
        **{verb: names},
    )


def _tell_user(user: User, subject: str) -> None:
    if not user.email:
        return
    message = (
        f"{subject} on the payments hub. If this was not agreed with you, tell security now.\n"
        f"You may not approve batches for {settings.APPROVAL_COOLOFF_HOURS:g} hours.\n"
    )
    # Through the outbox: sent once the change commits, and again if the worker dies first.
    with transaction.atomic():
        mail.schedule(
            key=f"people.mail:{user.pk}:{uuid.uuid4().hex}",
            messages=[[subject, message, None, [user.email]]],
        )


_groups = _relation_changed(AuditAction.USER_GROUPS, "groups")
_permissions = _relation_changed(AuditAction.USER_PERMISSIONS, "user_permissions")
_group_permissions = _relation_changed(AuditAction.GROUP_PERMISSIONS, "permissions")


def connect() -> None:
    pre_save.connect(on_user_pre_save, sender=User, dispatch_uid="people.user_pre_save")
    post_save.connect(on_user_saved, sender=User, dispatch_uid="people.user_saved")
    post_save.connect(on_device_saved, sender=TOTPDevice, dispatch_uid="people.device_saved")
    post_delete.connect(on_device_deleted, sender=TOTPDevice, dispatch_uid="people.device_deleted")
    m2m_changed.connect(_groups, sender=User.groups.through, dispatch_uid="people.groups")
    m2m_changed.connect(
        _permissions, sender=User.user_permissions.through, dispatch_uid="people.permissions"
    )
    m2m_changed.connect(
        _group_permissions, sender=Group.permissions.through, dispatch_uid="people.group_perms"
    )
