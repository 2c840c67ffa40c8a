"""Logging a test client in through both factors, the way a person does.

`otp_login(client, user)` gives the user a confirmed TOTP device (or reuses
theirs), logs the password step in with `force_login`, then posts a real code
to `/accounts/verify/`. The client then opens the dashboard and the admin.
"""

from __future__ import annotations

import time

from django.contrib.auth.models import Group
from django.test import Client
from django.urls import reverse
from django_otp.oath import TOTP
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts.identity import roles
from accounts.models import User
from tests.factories import UserFactory

PASSWORD = "correct-horse-battery-9"  # UserFactory's password


def totp_code(device: TOTPDevice, *, at: float | None = None) -> str:
    """The code the user's authenticator app shows now (or at a given Unix time)."""
    totp = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift)
    totp.time = time.time() if at is None else at
    return str(totp.token()).zfill(device.digits)


def totp_device(user: User) -> TOTPDevice:
    """The user's confirmed device, made if missing, ready to accept the current code."""
    device = TOTPDevice.objects.filter(user=user, confirmed=True).order_by("pk").first()
    if device is None:
        device = TOTPDevice.objects.create(user=user, name="authenticator", confirmed=True)
    # A code is accepted once per 30 s step; a second login in the same step must not fail.
    device.last_t = -1
    device.throttle_reset(commit=False)
    device.save()
    return device


def otp_login(client: Client, user: User) -> TOTPDevice:
    """Both factors: the password step (forced), then a real code to the verify page."""
    device = totp_device(user)
    client.force_login(user)
    response = client.post(reverse("otp_verify"), {"otp_token": totp_code(device)})
    assert response.status_code == 302, response.content.decode()[:500]
    return device


def make_operator(*roles_: str, **fields) -> User:
    """A member of the payments staff, in the given roles (operator when none)."""
    user = UserFactory(**fields)
    for role in roles_ or (roles.OPERATOR,):
        user.groups.add(Group.objects.get_or_create(name=role)[0])
    return user
