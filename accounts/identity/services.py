"""State changes of the hub's staff: operators and their second-factor devices.

Each records its audit event in the same transaction.
"""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts.identity import audit, grants, roles
from accounts.identity.actions import AuditAction
from accounts.identity.audit import Actor
from accounts.identity.models import User


@transaction.atomic
def operator_create(
    *, username: str, password: str, approver: bool = False, email: str = "", actor: Actor
) -> tuple[User, TOTPDevice]:
    """A member of the payments staff, with a TOTP device for the second factor."""
    from django.contrib.auth.password_validation import validate_password

    with audit.acting_as(actor):  # the signals' events (user, groups, device) name it too
        user = User(username=username, email=email, is_staff=False)
        validate_password(password, user)
        user.set_password(password)
        try:
            with transaction.atomic():  # the unique index decides, as in account_open
                user.save()
        except IntegrityError:
            if not User.objects.filter(username=username).exists():
                raise
            raise ValidationError(f"user {username!r} already exists") from None
        for role in (roles.OPERATOR, roles.APPROVER) if approver else (roles.OPERATOR,):
            if actor.user is None:  # a command on the server: a bootstrap grant
                grants.role_grant_bootstrap(user=user, role=role, actor=actor)
            else:  # from the web: asked for, and waits for a second person
                grants.role_grant_request(user=user, role=role, actor=actor)
        device = TOTPDevice.objects.create(user=user, name="authenticator", confirmed=True)
    audit.record(
        actor=actor,
        action=AuditAction.OPERATOR_CREATE,
        target=user,
        after={"username": username, "approver": approver},
    )
    return user, device


@transaction.atomic
def otp_device_begin_enrolment(*, user: User) -> TOTPDevice:
    """The user's unconfirmed TOTP device, made on first call and reused after.

    Reusing it keeps the secret stable while the user scans the code, however
    often the enrolment page is reloaded.
    """
    User.objects.select_for_update().get(pk=user.pk)  # one enrolment device per user
    device = TOTPDevice.objects.filter(user=user, confirmed=False).order_by("pk").first()
    if device is None:
        device = TOTPDevice.objects.create(user=user, name="authenticator", confirmed=False)
    return device


@transaction.atomic
def otp_device_confirm(*, device_id: int, actor: Actor) -> TOTPDevice:
    """Mark a device as confirmed once the user has proved it with a first code."""
    device = TOTPDevice.objects.select_for_update().get(pk=device_id)
    if device.confirmed:
        raise ValidationError("this authenticator is already confirmed")
    device.confirmed = True
    device.save(update_fields=["confirmed"])
    audit.record(
        actor=actor, action=AuditAction.AUTH_OTP_ENROLLED, target=device.user, device=device.name
    )
    return device
