"""The dashboard's door: password, then authenticator code; lock-outs, expiry, headers, audit."""

from __future__ import annotations

import base64
import os
import re
import secrets
import subprocess
import sys
from datetime import timedelta
from pathlib import Path
from urllib.parse import quote

import pytest
from axes.models import AccessAttempt
from django.conf import settings
from django.urls import reverse
from django.utils import timezone
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts.models import AuditEvent
from tests.factories import MerchantFactory, UserFactory
from tests.helpers import PASSWORD, make_operator, otp_login, totp_code, totp_device

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parents[2]
LOGIN = "/accounts/login/"
VERIFY = "/accounts/verify/"
ENROLL = "/accounts/enroll/"


class Clock:
    """Django's idea of now (timezone.now), moved by the test instead of by waiting."""

    def __init__(self) -> None:
        self.now = timezone.now()

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@pytest.fixture
def clock(monkeypatch) -> Clock:
    clock = Clock()
    monkeypatch.setattr(timezone, "now", lambda: clock.now)
    return clock


@pytest.fixture
def operator(db):
    user = make_operator(username="olga")
    totp_device(user)
    return user


def log_in_password(client, username: str, password: str = PASSWORD, **extra):
    return client.post(LOGIN, {"username": username, "password": password}, **extra)


def wrong_code(device: TOTPDevice) -> str:
    # Not the code of this step nor of either neighbour that the tolerance accepts.
    taken = {totp_code(device, at=timezone.now().timestamp() + s) for s in (-30, 0, 30)}
    return next(code for code in ("000000", "111111", "222222", "333333") if code not in taken)


def inline_code(page: str) -> list[str]:
    """Inline <script> and <style> blocks and style="" attributes: what the CSP refuses."""
    scripts = [
        tag
        for tag in re.findall(r"<script\b[^>]*>", page)
        if "src=" not in tag and "application/json" not in tag
    ]
    return scripts + re.findall(r"<style\b", page) + re.findall(r"\sstyle=", page)


# --- the first step -------------------------------------------------------------------------


def test_login_page_asks_for_username_and_password_under_a_strict_csp(client):
    response = client.get(LOGIN)

    assert response.status_code == 200
    page = response.content.decode()
    assert 'name="username"' in page and 'name="password"' in page
    policy = response["Content-Security-Policy"]
    for directive in (
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "frame-ancestors 'none'",
        "form-action 'self'",
    ):
        assert directive in policy
    assert "unsafe-inline" not in policy
    assert inline_code(page) == []
    assert "/static/css/dashboard.css" in page
    assert client.get("/static/css/dashboard.css").status_code == 200


def test_anonymous_visitor_is_sent_to_the_login_page(client):
    response = client.get("/")
    assert response.status_code == 302
    assert response["Location"] == f"{LOGIN}?next=/"

    response = client.get("/admin/", follow=True)
    assert response.request["PATH_INFO"] == LOGIN
    assert 'name="password"' in response.content.decode()


def test_right_password_leads_to_the_second_step_not_to_the_dashboard(client, operator):
    response = log_in_password(client, "olga")

    assert response.status_code == 302
    assert response["Location"] == f"{VERIFY}?next=%2F"
    assert client.get("/")["Location"] == f"{VERIFY}?next=/"


def test_a_password_only_session_opens_neither_dashboard_nor_admin(client):
    # given a superuser who has typed the right password and nothing more
    user = UserFactory(username="root", is_staff=True, is_superuser=True)
    totp_device(user)
    assert log_in_password(client, "root").status_code == 302

    # then every door leads to the code
    assert client.get("/")["Location"].startswith(VERIFY)
    for path in ("/admin/", "/admin/accounts/account/", "/admin/rq/"):
        response = client.get(path, follow=True)
        assert response.request["PATH_INFO"] == VERIFY, path
        assert 'name="otp_token"' in response.content.decode()
        assert inline_code(response.content.decode()) == []
    response = client.get("/admin/")
    assert response.status_code == 302


def test_unsafe_next_is_dropped(client, operator):
    response = client.post(
        f"{LOGIN}?next={quote('https://evil.example/')}",
        {"username": "olga", "password": PASSWORD, "next": "https://evil.example/"},
    )
    assert response["Location"] == f"{VERIFY}?next=%2F"


# --- the second step ------------------------------------------------------------------------


def test_right_code_opens_the_dashboard_and_is_audited(client, operator):
    device = TOTPDevice.objects.get(user=operator)
    log_in_password(client, "olga")

    response = client.post(
        VERIFY, {"otp_token": totp_code(device), "next": "/"}, REMOTE_ADDR="192.0.2.7"
    )

    assert response.status_code == 302 and response["Location"] == "/"
    home = client.get("/")
    assert home.status_code == 200
    page = home.content.decode()
    assert "olga" in page and "Log out" in page
    for link in ('href="/batches/"', 'href="/payments/"', 'href="/ledger/accounts/"'):
        assert link in page
    event = AuditEvent.objects.get(action="auth.login")
    assert event.actor == operator and event.ip == "192.0.2.7"
    assert event.target_id == str(operator.pk)


def test_a_code_is_good_for_one_login_only(client, operator):
    device = TOTPDevice.objects.get(user=operator)
    code = totp_code(device)
    log_in_password(client, "olga")
    assert client.post(VERIFY, {"otp_token": code}).status_code == 302
    client.post("/accounts/logout/")

    log_in_password(client, "olga")
    response = client.post(VERIFY, {"otp_token": code})

    assert response.status_code == 200
    assert client.get("/")["Location"].startswith(VERIFY)


def test_a_code_used_already_is_called_spent_not_wrong(client, operator):
    """Signing in again within the same 30 s with the same right code: the message says the
    code was used, not that it is wrong or that the phone's clock is off (issue 22, point 2)."""
    device = TOTPDevice.objects.get(user=operator)
    code = totp_code(device)
    log_in_password(client, "olga")
    assert client.post(VERIFY, {"otp_token": code}).status_code == 302
    client.post("/accounts/logout/")

    log_in_password(client, "olga")
    page = client.post(VERIFY, {"otp_token": code}).content.decode()

    assert "used already" in page and "Wait for the next code" in page
    assert "not right" not in page and "clock" not in page
    assert client.get("/")["Location"].startswith(VERIFY)
    assert (
        AuditEvent.objects.get(action="auth.otp_failed")
        .detail["reason"]
        .startswith("That code was used already")
    )


def test_wrong_code_is_refused_and_audited(client, operator):
    device = TOTPDevice.objects.get(user=operator)
    log_in_password(client, "olga")

    response = client.post(VERIFY, {"otp_token": wrong_code(device)}, REMOTE_ADDR="192.0.2.8")

    assert response.status_code == 200
    assert "That code is not right" in response.content.decode()
    assert client.get("/")["Location"].startswith(VERIFY)
    event = AuditEvent.objects.get(action="auth.otp_failed")
    assert event.actor == operator and event.ip == "192.0.2.8"
    assert event.detail["step"] == "verify"
    assert not AuditEvent.objects.filter(action="auth.login").exists()


def test_wrong_codes_slow_the_next_attempts_down(client, operator, clock):
    device = TOTPDevice.objects.get(user=operator)
    log_in_password(client, "olga")
    client.post(VERIFY, {"otp_token": wrong_code(device)})
    client.post(VERIFY, {"otp_token": wrong_code(device)})

    # within the delay that django-otp imposes, even the right code is refused
    response = client.post(VERIFY, {"otp_token": totp_code(device)})
    assert "Verification temporarily disabled because of 1 failed attempt" in (
        response.content.decode()
    )
    assert client.get("/")["Location"].startswith(VERIFY)
    failures = AuditEvent.objects.filter(action="auth.otp_failed").order_by("id")
    assert failures.count() == 3
    assert "temporarily disabled" in failures.last().detail["reason"]

    # once the delay (1 s after one failure) has passed, the right code works
    clock.advance(seconds=2)
    assert client.post(VERIFY, {"otp_token": totp_code(device)}).status_code == 302
    assert client.get("/").status_code == 200


# --- enrolment ------------------------------------------------------------------------------


def test_user_without_authenticator_enrols_with_an_inline_svg_qr_code(client):
    user = make_operator(username="newbie")
    response = log_in_password(client, "newbie")
    assert response["Location"] == f"{ENROLL}?next=%2F"
    assert client.get("/")["Location"] == f"{ENROLL}?next=/"

    page = client.get(ENROLL).content.decode()

    assert re.search(r"<svg [^>]*class=\"qr\"", page) and "<path d=" in page
    assert "<img" not in page and inline_code(page) == []
    device = TOTPDevice.objects.get(user=user)
    assert device.confirmed is False
    secret = re.search(r'id="totp-secret">([A-Z2-7 ]+)<', page).group(1).replace(" ", "")
    assert base64.b32decode(secret) == device.bin_key
    # reloading the page keeps the same secret
    assert secret in client.get(ENROLL).content.decode().replace(" ", "")

    # when the user types the code that an app holding this secret shows
    response = client.post(ENROLL, {"otp_token": totp_code(device)})

    assert response.status_code == 302 and response["Location"] == "/"
    device.refresh_from_db()
    assert device.confirmed is True
    assert client.get("/").status_code == 200
    assert AuditEvent.objects.filter(action="auth.otp_enrolled", target_id=str(user.pk)).exists()


def test_enrolment_refuses_a_wrong_first_code(client):
    user = make_operator(username="newbie")
    log_in_password(client, "newbie")
    client.get(ENROLL)
    device = TOTPDevice.objects.get(user=user)

    response = client.post(ENROLL, {"otp_token": wrong_code(device)})

    assert response.status_code == 200
    device.refresh_from_db()
    assert device.confirmed is False
    assert client.get("/")["Location"].startswith(ENROLL)
    assert AuditEvent.objects.get(action="auth.otp_failed").detail["step"] == "enroll"


def test_a_password_alone_cannot_add_a_second_authenticator(client, operator):
    log_in_password(client, "olga")

    response = client.get(ENROLL)

    assert response.status_code == 302 and response["Location"].startswith(VERIFY)
    assert TOTPDevice.objects.filter(user=operator).count() == 1


# --- failed logins --------------------------------------------------------------------------


def test_failed_login_is_audited_with_user_and_ip(client, operator):
    response = log_in_password(client, "olga", "not-the-password", REMOTE_ADDR="198.51.100.4")
    log_in_password(client, "nobody", "whatever", REMOTE_ADDR="198.51.100.4")

    assert response.status_code == 200
    assert "_auth_user_id" not in client.session
    known, unknown = AuditEvent.objects.filter(action="auth.login_failed").order_by("id")
    assert known.target_id == str(operator.pk) and known.ip == "198.51.100.4"
    assert known.detail["username"] == "olga"
    assert unknown.target_id == "" and unknown.detail["username"] == "nobody"


def test_five_wrong_passwords_lock_the_user_out_from_that_address(client, operator):
    attacker = {"REMOTE_ADDR": "203.0.113.9"}
    for _ in range(4):
        assert log_in_password(client, "olga", "guess", **attacker).status_code == 200

    fifth = log_in_password(client, "olga", "guess", **attacker)

    assert fifth.status_code == 429
    assert "Login locked" in fifth.content.decode()
    assert "15 minutes" in fifth.content.decode()
    # the right password from the same address is refused too
    locked = log_in_password(client, "olga", PASSWORD, **attacker)
    assert locked.status_code == 429
    assert "_auth_user_id" not in client.session
    assert AuditEvent.objects.filter(action="auth.locked_out", ip="203.0.113.9").exists()
    assert AuditEvent.objects.filter(action="auth.login_failed", ip="203.0.113.9").count() == 6
    # the lock is on the (user name, address) pair: the operator's own address still works
    own = log_in_password(client, "olga", PASSWORD, REMOTE_ADDR="192.0.2.10")
    assert own.status_code == 302 and own["Location"].startswith(VERIFY)


def test_lockout_lifts_after_the_cool_off(client, operator):
    for _ in range(5):
        log_in_password(client, "olga", "guess")
    assert log_in_password(client, "olga", PASSWORD).status_code == 429

    # 14 minutes after the last attempt: still locked (and that attempt restarts the wait)
    AccessAttempt.objects.update(attempt_time=timezone.now() - timedelta(minutes=14))
    assert log_in_password(client, "olga", PASSWORD).status_code == 429

    # 16 minutes after the last attempt: the lock has lifted
    AccessAttempt.objects.update(attempt_time=timezone.now() - timedelta(minutes=16))
    assert log_in_password(client, "olga", PASSWORD).status_code == 302


# --- logout and expiry ----------------------------------------------------------------------


def test_logout_ends_the_session_and_is_audited(operator_client, operator_user):
    assert operator_client.get("/").status_code == 200
    assert operator_client.get("/accounts/logout/").status_code == 405  # POST only

    response = operator_client.post("/accounts/logout/", REMOTE_ADDR="192.0.2.11")

    assert response.status_code == 302 and response["Location"] == LOGIN
    assert operator_client.get("/")["Location"] == f"{LOGIN}?next=/"
    event = AuditEvent.objects.get(action="auth.logout")
    assert event.actor == operator_user and event.ip == "192.0.2.11"


def test_session_expires_after_inactivity_not_after_activity(operator_client, clock):
    idle = settings.SESSION_COOKIE_AGE
    assert operator_client.get("/").status_code == 200

    # each request within the idle time keeps the session alive, past the first age
    for _ in range(3):
        clock.advance(seconds=idle - 60)
        assert operator_client.get("/").status_code == 200

    clock.advance(seconds=idle + 1)

    response = operator_client.get("/")
    assert response.status_code == 302 and response["Location"] == f"{LOGIN}?next=/"


# --- who may use the dashboard --------------------------------------------------------------


def test_a_merchant_user_with_both_factors_is_still_not_let_in(client):
    user = UserFactory(merchant=MerchantFactory())
    otp_login(client, user)

    assert client.get("/").status_code == 403
    assert client.get("/admin/").status_code == 302  # not staff: the admin sends it away


def test_staff_in_the_admin_need_both_factors_and_then_get_in(client):
    user = UserFactory(username="root", is_staff=True, is_superuser=True)
    device = totp_device(user)
    log_in_password(client, "root")

    response = client.post(VERIFY, {"otp_token": totp_code(device), "next": "/admin/"})

    assert response["Location"] == "/admin/"
    page = client.get("/admin/")
    assert page.status_code == 200
    assert client.get("/admin/login/")["Location"] == "/admin/"


def test_admin_pages_render_without_inline_code(admin_client, funded_account):
    for path in (
        "/admin/",
        reverse("admin:accounts_account_changelist"),
        reverse("admin:accounts_account_change", args=[funded_account.pk]),
        reverse("admin:otp_totp_totpdevice_changelist"),
    ):
        response = admin_client.get(path)
        assert response.status_code == 200, path
        assert "Content-Security-Policy" in response
        assert inline_code(response.content.decode()) == [], path


# --- deployment ---------------------------------------------------------------------------


def test_check_deploy_reports_nothing_with_production_settings(tmp_path):
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DATA_DIR": str(tmp_path),
        "DEBUG": "false",
        "SECRET_KEY": secrets.token_urlsafe(50)[:50],
        "ALLOWED_HOSTS": "hub.example.com",
        "SECURE_SSL_REDIRECT": "true",
        "SECURE_HSTS_SECONDS": "31536000",
        # Without it, check --deploy warns (payhub.W001): keys of one host's own file.
        "FIELD_ENCRYPTION_KEYS": base64.urlsafe_b64encode(os.urandom(32)).decode(),
    }
    for name in ("SECURE_COOKIES", "SECURE_HSTS_INCLUDE_SUBDOMAINS", "SECURE_HSTS_PRELOAD"):
        env.pop(name, None)

    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )

    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout


# --- the client's address -------------------------------------------------------------------


def test_a_forwarded_for_header_is_not_trusted_without_proxies(client, operator):
    # A client sending X-Forwarded-For itself can neither hide nor fake its address,
    # nor break the audit trail with a header that is not an address.
    log_in_password(
        client, "olga", "guess", REMOTE_ADDR="198.51.100.20", HTTP_X_FORWARDED_FOR="10.9.9.9"
    )
    response = log_in_password(
        client, "olga", "guess", REMOTE_ADDR="198.51.100.20", HTTP_X_FORWARDED_FOR="<script>"
    )

    assert response.status_code == 200
    ips = list(AuditEvent.objects.filter(action="auth.login_failed").values_list("ip", flat=True))
    assert ips == ["198.51.100.20", "198.51.100.20"]


def test_behind_two_proxies_the_address_the_outer_one_saw_counts(client, operator, settings):
    settings.TRUSTED_PROXY_COUNT = 2
    # the client claims 10.0.0.1; our outer proxy saw 203.0.113.50 and appended it, the
    # inner proxy appended the outer one's address and connected to us
    spoofed = {
        "REMOTE_ADDR": "10.0.0.3",
        "HTTP_X_FORWARDED_FOR": "10.0.0.1, 203.0.113.50, 10.0.0.2",
    }
    for _ in range(4):
        log_in_password(client, "olga", "guess", **spoofed)
    fifth = log_in_password(client, "olga", "guess", **spoofed)

    assert fifth.status_code == 429  # the lock-out counts the same address the audit records
    ips = set(AuditEvent.objects.filter(action="auth.login_failed").values_list("ip", flat=True))
    assert ips == {"203.0.113.50"}
    # another real client behind the same proxies is not locked out
    other = {"REMOTE_ADDR": "10.0.0.3", "HTTP_X_FORWARDED_FOR": "198.51.100.77, 10.0.0.2"}
    assert log_in_password(client, "olga", PASSWORD, **other).status_code == 302


def test_too_few_forwarded_addresses_record_no_address(client, operator, settings):
    settings.TRUSTED_PROXY_COUNT = 2
    log_in_password(client, "olga", "guess", REMOTE_ADDR="10.0.0.3", HTTP_X_FORWARDED_FOR="")
    assert AuditEvent.objects.get(action="auth.login_failed").ip is None
