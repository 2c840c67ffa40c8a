"""No secret, no borrowed identity: what one insider with admin rights can no longer do.

The attack of issue 10: an admin uploads a batch, resets a checker's password, reads
the checker's TOTP key, signs in as the checker and approves. Each step is tried here.
"""

from __future__ import annotations

import base64
from datetime import timedelta

import pytest
from django.contrib.auth.models import Group
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts.identity import roles
from accounts.identity.audit import Actor
from accounts.models import AuditEvent, User
from batches import services
from batches.models import Batch
from payments.models import Payment
from tests.factories import AccountFactory, MerchantFactory, UserFactory, fund
from tests.helpers import fresh_code, make_operator, otp_login, totp_code, totp_device

pytestmark = pytest.mark.django_db

NEW_PASSWORD = "a-new-Passphrase-42"


@pytest.fixture
def shop(db):
    merchant = MerchantFactory(name="Shop")
    account = AccountFactory(merchant=merchant, currency="EUR", number="SHOP-EUR")
    fund(account, 100_000)
    AccountFactory(merchant=None, currency="EUR", number="PAYEE-1")
    return account


@pytest.fixture
def insider(db) -> User:
    """A superuser who is also an operator: may upload, may run the admin."""
    return make_operator(roles.OPERATOR, username="insider", is_staff=True, is_superuser=True)


@pytest.fixture
def checker(db) -> User:
    return make_operator(roles.OPERATOR, roles.APPROVER, username="checker")


def awaiting_batch(account, maker: User) -> Batch:
    batch = services.batch_upload(
        merchant=account.merchant,
        upload=SimpleUploadedFile(
            "b.csv", b"creditor_account,amount,currency,reference\nPAYEE-1,500.00,EUR,insider\n"
        ),
        debtor_account_number=account.number,
        actor=Actor.for_user(maker),
        uploaded_by=maker,
    )
    return services.batch_validate(batch_id=batch.pk)


def secrets_of(device: TOTPDevice) -> list[str]:
    return [device.key, base64.b32encode(device.bin_key).decode(), device.config_url]


def test_the_admin_never_shows_a_totp_secret(client, insider, checker):
    device = totp_device(checker)
    otp_login(client, insider)

    pages = [
        client.get(reverse("admin:otp_totp_totpdevice_changelist")),
        client.get(reverse("admin:otp_totp_totpdevice_change", args=[device.pk])),
        client.get(f"/admin/otp_totp/totpdevice/{device.pk}/config/"),
        client.get(f"/admin/otp_totp/totpdevice/{device.pk}/qrcode/"),
    ]

    assert pages[0].status_code == 200 and pages[1].status_code == 200
    for page in pages:
        content = page.content.decode(errors="replace")
        for secret in secrets_of(device):
            assert secret not in content
    # Nor may the admin give a person a device whose key it chose.
    assert client.get(reverse("admin:otp_totp_totpdevice_add")).status_code == 403


def test_an_admin_resetting_a_checkers_password_cannot_end_in_a_paid_batch(
    client, shop, insider, checker
):
    # given: the insider's own batch, awaiting approval
    batch = awaiting_batch(shop, insider)
    assert batch.status == Batch.Status.AWAITING_APPROVAL
    totp_device(checker)
    otp_login(client, insider)

    # when: the insider sets the checker's password in the admin...
    response = client.post(
        reverse("admin:auth_user_password_change", args=[checker.pk]),
        {"password1": NEW_PASSWORD, "password2": NEW_PASSWORD, "usable_password": "true"},
    )
    assert response.status_code == 302, response.content.decode()[:2000]

    # ...signs in as the checker: the old authenticator is gone, a new one is enrolled
    assert not TOTPDevice.objects.filter(user=checker).exists()
    as_checker = Client()
    response = as_checker.post(reverse("login"), {"username": "checker", "password": NEW_PASSWORD})
    assert response.status_code == 302 and "enroll" in response["Location"]
    as_checker.get(reverse("otp_enroll"))
    device = TOTPDevice.objects.get(user=checker, confirmed=False)
    response = as_checker.post(reverse("otp_enroll"), {"otp_token": totp_code(device)})
    assert response.status_code == 302

    # ...and approves the insider's batch
    response = as_checker.post(
        reverse("batches:approve", args=[batch.pk]),
        {"otp_token": totp_code(device, at=timezone.now().timestamp() + 30)},
    )

    # then: refused, nothing paid, and the trail says who reset whom
    assert response.status_code == 403
    batch.refresh_from_db()
    assert batch.status == Batch.Status.AWAITING_APPROVAL
    assert not batch.approvals.exists()
    assert not Payment.objects.filter(batch_id=batch.pk).exists()
    reset = AuditEvent.objects.get(action="user.password_reset", target_id=str(checker.pk))
    assert reset.actor == insider and reset.ip == "127.0.0.1"
    checker.refresh_from_db()
    assert checker.approval_barred_until > timezone.now() + timedelta(hours=23)


def test_superuser_status_is_not_the_approver_role(shop, insider, checker):
    batch = awaiting_batch(shop, checker)
    other_admin = UserFactory(username="root", is_staff=True, is_superuser=True)

    with pytest.raises(services.NotAllowed, match="only an approver"):
        services.batch_approve(
            batch_id=batch.pk,
            approver=other_admin,
            actor=Actor.for_user(other_admin),
            otp_token=fresh_code(other_admin),
        )
    batch.refresh_from_db()
    assert batch.status == Batch.Status.AWAITING_APPROVAL


def test_joining_the_approver_group_confers_nothing_and_a_grant_waits_for_the_cooloff(
    shop, insider, settings
):
    settings.APPROVAL_COOLOFF_HOURS = 24
    batch = awaiting_batch(shop, insider)
    # The insider makes an operator of theirs an approver, to approve their own batch:
    # through the group first, which is a screen's permissions, not a role.
    accomplice = make_operator(roles.OPERATOR, username="accomplice")
    totp_device(accomplice)
    with_actor = Actor.for_user(insider)
    from accounts.identity import audit, grants

    with audit.acting_as(with_actor):
        accomplice.groups.add(Group.objects.get(name=roles.APPROVER))
    with pytest.raises(services.NotAllowed, match="only an approver"):
        services.batch_approve(
            batch_id=batch.pk,
            approver=accomplice,
            actor=Actor.for_user(accomplice),
            otp_token=fresh_code(accomplice),
        )
    # Then as a grant: asked by the insider, approved by a second person (the admin role).
    pending = grants.role_grant_request(user=accomplice, role=roles.APPROVER, actor=with_actor)
    security = make_operator(roles.ADMIN, username="security")
    grants.role_grant_approve(
        grant_id=pending.pk, actor=Actor.for_user(security), otp_token=fresh_code(security)
    )
    with pytest.raises(services.NotAllowed, match="changed recently"):
        services.batch_approve(
            batch_id=batch.pk,
            approver=accomplice,
            actor=Actor.for_user(accomplice),
            otp_token=fresh_code(accomplice),
        )
    # A day later the grant is an established fact, and the trail shows who made it.
    services.batch_approve(
        batch_id=batch.pk,
        approver=accomplice,
        actor=Actor.for_user(accomplice),
        otp_token=fresh_code(accomplice),
        now=timezone.now() + timedelta(hours=25),
    )
    asked = AuditEvent.objects.get(action="role_grant.request", target_id=str(accomplice.pk))
    assert asked.actor == insider and asked.detail["role"] == roles.APPROVER
    assert AuditEvent.objects.filter(action="role_grant.approve", actor=security).exists()


def test_removing_someones_authenticator_bars_them_and_is_recorded(client, insider, checker):
    device = totp_device(checker)
    otp_login(client, insider)

    response = client.post(
        reverse("admin:otp_totp_totpdevice_delete", args=[device.pk]), {"post": "yes"}
    )

    assert response.status_code == 302
    assert not TOTPDevice.objects.filter(pk=device.pk).exists()
    checker.refresh_from_db()
    assert checker.approval_barred_until is not None
    event = AuditEvent.objects.get(action="otp_device.delete", target_id=str(checker.pk))
    assert event.actor == insider


def test_a_users_own_enrolment_does_not_bar_them(client, checker):
    client.force_login(checker)
    client.get(reverse("otp_enroll"))
    device = TOTPDevice.objects.get(user=checker)
    client.post(reverse("otp_enroll"), {"otp_token": totp_code(device)})

    checker.refresh_from_db()
    assert checker.approval_barred_until is None
    assert AuditEvent.objects.filter(action="otp_device.create", actor=checker).exists()


def test_changes_to_people_outside_any_request_are_audited_with_the_process(checker):
    from django.contrib.auth.models import Permission
    from django.core.management import call_command

    permission = Permission.objects.get(codename="approve_batch")
    checker.user_permissions.add(permission)
    checker.is_staff = True
    checker.set_password(NEW_PASSWORD)
    checker.save()
    call_command("create_operator", "--username", "olga", "--password", "s3cure-Passphrase!")

    granted = AuditEvent.objects.get(action="user.permissions", target_id=str(checker.pk))
    assert granted.actor is None and granted.actor_label.startswith("system: ")
    assert granted.before == {"user_permissions": []}
    assert granted.after == {"user_permissions": ["batches.approve_batch"]}
    change = AuditEvent.objects.get(action="user.change", target_id=str(checker.pk))
    assert (change.before, change.after) == ({"is_staff": False}, {"is_staff": True})
    assert AuditEvent.objects.filter(action="user.password_reset", target_id=str(checker.pk))
    olga = User.objects.get(username="olga")
    created = AuditEvent.objects.get(action="user.create", target_id=str(olga.pk))
    assert created.actor_label == "manage.py create_operator"
    assert created.after["username"] == "olga"
    # No event anywhere carries a password hash or a TOTP key.
    dumped = str(list(AuditEvent.objects.values("before", "after", "detail")))
    assert olga.password not in dumped and checker.password not in dumped


def test_a_password_reset_by_someone_else_mails_the_user_through_the_outbox(checker, mailoutbox):
    from outbox import services as outbox
    from outbox.models import OutboxJob

    checker.email = "checker@example.com"
    checker.save()
    checker.set_password(NEW_PASSWORD)
    checker.save()

    job = OutboxJob.objects.get(job="outbox.mail.send_mails", key__startswith="people.mail:")
    assert mailoutbox == []  # recorded with the change, sent by the worker
    outbox.run(job.pk)
    assert [mail.to for mail in mailoutbox] == [["checker@example.com"]]
    assert "reset by someone else" in mailoutbox[0].subject
