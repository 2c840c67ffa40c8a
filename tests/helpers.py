"""Logging a test client in through both factors, the way a person does.

`otp_login(client, user)` gives the user a confirmed TOTP device (or reuses
theirs), logs the password step in with `force_login`, then posts a real code
to `/accounts/verify/`. The client then opens the dashboard and the admin.
"""

from __future__ import annotations

import time

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
    past_cooloff(user)
    return device


def past_cooloff(user: User) -> User:
    """As if APPROVAL_COOLOFF_HOURS had passed since the user's roles or device were set up."""
    User.objects.filter(pk=user.pk).update(approval_barred_until=None)
    user.approval_barred_until = None
    return user


def otp_login(client: Client, user: User) -> TOTPDevice:
    """Both factors: the password step (forced), then a real code to the verify page."""
    device = totp_device(user)
    client.force_login(user)
    response = client.post(reverse("otp_verify"), {"otp_token": totp_code(device)})
    assert response.status_code == 302, response.content.decode()[:500]
    return device


def grant(user: User, *roles_: str) -> User:
    """Give roles as a command on the server would (a bootstrap grant), past the cool-off."""
    from accounts.identity import grants
    from accounts.identity.audit import Actor

    for role in roles_:
        grants.role_grant_bootstrap(user=user, role=role, actor=Actor.system("tests"))
    return past_cooloff(user)


def make_operator(*roles_: str, **fields) -> User:
    """A member of the payments staff, granted the given roles (operator when none)."""
    user = UserFactory(**fields)
    return grant(user, *(roles_ or (roles.OPERATOR,)))


def run_outbox() -> int:
    """Run every due outbox job in this process, as a worker would; how many ran."""
    from django.utils import timezone

    from outbox import services as outbox
    from outbox.models import OutboxJob

    ran = 0
    for outbox_id in OutboxJob.objects.filter(
        done_at__isnull=True, due_at__lte=timezone.now()
    ).values_list("id", flat=True):
        outbox.run(outbox_id)
        ran += 1
    return ran


def perform_queued(queue_name: str) -> int:
    """Take every job off an RQ queue and perform it in this process (a worker's work,
    inside the test's transaction); how many ran."""
    import django_rq

    queue = django_rq.get_queue(queue_name)
    jobs = queue.get_jobs()
    queue.empty()
    for job in jobs:
        job.perform()
    return len(jobs)


def fresh_code(user: User) -> str:
    """A code that the user's authenticator shows now and that was not used yet (the
    device forgets its last step, as if a new 30 s step had begun): signs a decision."""
    device = TOTPDevice.objects.filter(user=user, confirmed=True).order_by("pk").first()
    device = device or totp_device(user)
    TOTPDevice.objects.filter(pk=device.pk).update(last_t=-1, throttling_failure_count=0)
    return totp_code(device)


def signed(user: User, **data: str) -> dict[str, str]:
    """A decision's form data, with a fresh authenticator code of `user`."""
    return {**data, "otp_token": fresh_code(user)}


def child_database_url() -> str:
    """A DATABASE_URL for a child process (a server, a worker) on this test's database.

    HOST may be the embedded server's socket directory: a path, percent-encoded in a URL
    (dj-database-url decodes it; libpq takes a directory as a host)."""
    from urllib.parse import quote

    from django.db import connection

    db = connection.settings_dict
    host = quote(db["HOST"] or "127.0.0.1", safe="")
    return f"postgres://{db['USER']}@{host}:{db['PORT'] or 5432}/{db['NAME']}"
