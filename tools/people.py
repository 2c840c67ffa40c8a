"""The people of a benchmark or a tool run: staff holding a role by a bootstrap grant, as a
command on the server makes them, and the code their authenticator shows now. A benchmark's
people decide at once: the approver's cool-off is lifted."""

from __future__ import annotations

from accounts.identity.audit import Actor
from accounts.models import User


def person(username: str, role: str, *, by: str) -> User:
    """A member of staff holding `role` (granted by the command or tool named `by`)."""
    from accounts.identity import grants

    user, _ = User.objects.get_or_create(username=username)
    grants.role_grant_bootstrap(user=user, role=role, actor=Actor.system(by))
    User.objects.filter(pk=user.pk).update(approval_barred_until=None)
    user.refresh_from_db()
    return user


def fresh_code(user: User) -> str:
    """A code of the person's authenticator, as its app would show it now."""
    from django_otp.oath import TOTP
    from django_otp.plugins.otp_totp.models import TOTPDevice

    device, _ = TOTPDevice.objects.get_or_create(
        user=user, name="authenticator", defaults={"confirmed": True}
    )
    TOTPDevice.objects.filter(pk=device.pk).update(last_t=-1)  # a new run, a new step
    # Like the demo's approvers, they skip the cool-off of a new authenticator.
    User.objects.filter(pk=user.pk).update(approval_barred_until=None)
    totp = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift)
    return f"{totp.token():0{device.digits}d}"
