"""Requests an attacker would send: each answers a 4xx in the one error shape, never a 500,
and moves no money."""

from __future__ import annotations

import base64
import io
import json
import runpy
from pathlib import Path
from wsgiref.util import setup_testing_defaults

import pytest

from accounts.models import Account
from payments.models import Payment
from tests.factories import AccountFactory

pytestmark = pytest.mark.django_db

SETTINGS_FILE = Path(__file__).resolve().parents[2] / "config" / "settings.py"


def assert_error_shape(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.content[:300]
    body = response.json()
    assert set(body) <= {"code", "detail", "errors"} and body["code"] == code, body
    assert isinstance(body["detail"], str) and body["detail"]
    return body


def wsgi_call(environ_extra: dict, body: io.BytesIO) -> tuple[int, dict, bytes]:
    from config import wsgi

    environ = {
        "REQUEST_METHOD": "POST",
        "SERVER_NAME": "testserver",
        "HTTP_HOST": "testserver",
        "wsgi.input": body,
        **environ_extra,
    }
    setup_testing_defaults(environ)
    answer: dict = {}

    def start_response(status, headers, exc_info=None):
        answer["status"] = int(status.split()[0])
        answer["headers"] = {name.lower(): value for name, value in headers}

    chunks = wsgi.application(environ, start_response)
    content = b"".join(chunks)
    getattr(chunks, "close", lambda: None)()
    return answer["status"], answer["headers"], content


# --- amounts ------------------------------------------------------------------------------


def test_an_over_precise_amount_is_refused_not_rounded(shop):
    response = shop.pay("99.9999999999999999999999999999")

    body = assert_error_shape(response, 400, "invalid")
    assert "amount" in body["errors"]
    assert Payment.objects.count() == 0


# --- bodies -------------------------------------------------------------------------------


def test_a_3_mb_json_body_is_413(shop):
    body = json.dumps({"amount": "1.00", "reference": "x" * (3 * 1024 * 1024)})

    response = shop.client.post("/api/v1/payments/", body, content_type="application/json")

    assert_error_shape(response, 413, "request_too_large")


class ExplodingStream(io.BytesIO):
    """A request body that must never be read."""

    def read(self, *args):
        raise AssertionError("the body was read")

    readline = read


@pytest.mark.usefixtures("keep_test_connection")
def test_a_declared_1_5_gb_upload_is_413_before_a_byte_is_read(shop):
    status, headers, content = wsgi_call(
        {
            "PATH_INFO": "/api/v1/batches/",
            "CONTENT_TYPE": "multipart/form-data; boundary=xyz",
            "CONTENT_LENGTH": str(1_500_000_000),
            "HTTP_AUTHORIZATION": f"Bearer {shop.key}",
        },
        ExplodingStream(),
    )

    assert status == 413
    assert json.loads(content)["code"] == "request_too_large"


@pytest.mark.parametrize("depth", [40, 1000, 100_000])
def test_json_nested_too_deep_is_400(shop, depth):
    body = '{"amount": ' + "[" * depth + "]" * depth + "}"

    response = shop.client.post("/api/v1/payments/", body, content_type="application/json")

    assert_error_shape(response, 400, "parse_error")


def test_brackets_inside_strings_are_not_nesting(shop):
    response = shop.pay(reference="[" * 100)

    assert response.status_code == 201, response.json()


# --- cursors ------------------------------------------------------------------------------


def forged(query: str) -> str:
    return base64.b64encode(query.encode()).decode()


@pytest.mark.parametrize(
    "cursor",
    [forged("p=notadate&r=0"), forged("p=2026-01-01\x00&r=0"), forged("o=-5"), "!!!not-base64"],
)
def test_a_tampered_cursor_on_payments_is_400(shop, cursor):
    shop.pay()

    response = shop.client.get("/api/v1/payments/", {"cursor": cursor})

    assert_error_shape(response, 400, "invalid_cursor")


@pytest.mark.parametrize("cursor", [forged("p=notanumber&r=0"), forged("p=99999999999999999999")])
def test_a_tampered_cursor_on_entries_is_400(shop, cursor):
    response = shop.client.get(f"/api/v1/accounts/{shop.account.id}/entries/", {"cursor": cursor})

    assert_error_shape(response, 400, "invalid_cursor")


def test_a_cursor_the_api_gave_out_still_works(shop):
    for _ in range(3):
        assert shop.pay().status_code == 201

    first = shop.client.get("/api/v1/payments/", {"limit": 2}).json()
    second = shop.client.get(first["next"])

    assert second.status_code == 200 and len(second.json()["results"]) == 1


# --- failed authentication ------------------------------------------------------------------


@pytest.fixture
def frozen_clock(monkeypatch):
    from payments.api import auth

    now = [1_900_000_000.0]  # the start of a minute: the window does not turn mid-test
    monkeypatch.setattr(auth, "clock", lambda: now[0], raising=False)
    return now


def test_failed_authentication_is_throttled_per_address(shop, frozen_clock, settings):
    from rest_framework.test import APIClient

    settings.API_AUTH_FAILURE_RATE = "20/minute"
    attacker = APIClient(REMOTE_ADDR="203.0.113.9")
    attacker.credentials(HTTP_AUTHORIZATION="Bearer wrongprefix.wrongsecret")

    statuses = [attacker.get("/api/v1/payments/").status_code for _ in range(25)]

    assert statuses == [401] * 20 + [429] * 5
    throttled = attacker.get("/api/v1/payments/")
    assert_error_shape(throttled, 429, "throttled")
    assert 1 <= int(throttled["Retry-After"]) <= 60
    # The address is blocked even with a valid key, until the window ends...
    attacker.credentials(HTTP_AUTHORIZATION=f"Bearer {shop.key}")
    assert attacker.get("/api/v1/payments/").status_code == 429
    # ...while another address is served.
    shop.client.defaults["REMOTE_ADDR"] = "198.51.100.7"
    assert shop.client.get("/api/v1/payments/").status_code == 200
    frozen_clock[0] += 60
    assert attacker.get("/api/v1/payments/").status_code == 200


def test_the_throttle_honours_the_trusted_proxy(shop, frozen_clock, settings):
    from rest_framework.test import APIClient

    settings.API_AUTH_FAILURE_RATE = "3/minute"
    settings.TRUSTED_PROXY_COUNT = 1
    statuses = []
    for n in range(8):
        # Behind one proxy: each client is the address the proxy appended.
        client = APIClient(REMOTE_ADDR="10.0.0.1", HTTP_X_FORWARDED_FOR=f"1.2.3.{n % 2}")
        client.credentials(HTTP_AUTHORIZATION="Bearer bad.key")
        statuses.append(client.get("/api/v1/payments/").status_code)

    assert statuses == [401] * 6 + [429] * 2


# --- system accounts ------------------------------------------------------------------------


def test_a_merchant_cannot_pay_into_a_system_account(shop):
    from accounts.ledger import posting

    funding = posting.funding_account("EUR")
    before = Account.objects.get(pk=funding.pk).balance

    response = shop.pay(creditor_account=funding.number)

    body = assert_error_shape(response, 400, "invalid")
    assert "creditor_account" in body["errors"]
    assert Payment.objects.count() == 0
    assert Account.objects.get(pk=funding.pk).balance == before


def test_a_merchant_never_reads_a_system_account(shop):
    system = AccountFactory(merchant=shop.merchant, currency="EUR", kind=Account.Kind.SYSTEM)

    listed = [a["number"] for a in shop.client.get("/api/v1/accounts/").json()["results"]]

    assert system.number not in listed and shop.account.number in listed
    assert shop.client.get(f"/api/v1/accounts/{system.id}/").status_code == 404
    assert shop.client.get(f"/api/v1/accounts/{system.id}/entries/").status_code == 404
    response = shop.pay(debtor_account=system.number)
    assert_error_shape(response, 400, "invalid")


# --- defaults -------------------------------------------------------------------------------


def settings_with(monkeypatch, **env) -> dict:
    for name in ("DEBUG", "SECURE_HSTS_SECONDS", "TRUSTED_PROXY_COUNT"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return runpy.run_path(str(SETTINGS_FILE))


def test_hsts_is_on_by_default_outside_debug(monkeypatch):
    assert settings_with(monkeypatch)["SECURE_HSTS_SECONDS"] >= 180 * 24 * 3600
    assert "SECURE_HSTS_SECONDS" not in settings_with(monkeypatch, DEBUG="1")


def test_the_proxy_header_is_trusted_only_behind_a_declared_proxy(monkeypatch):
    assert "SECURE_PROXY_SSL_HEADER" not in settings_with(monkeypatch)
    behind = settings_with(monkeypatch, TRUSTED_PROXY_COUNT="1")
    assert behind["SECURE_PROXY_SSL_HEADER"] == ("HTTP_X_FORWARDED_PROTO", "https")


def test_a_forged_forwarded_proto_is_not_a_secure_request(shop):
    response = shop.client.get("/api/v1/payments/", HTTP_X_FORWARDED_PROTO="https")

    assert response.status_code == 200
    assert "Strict-Transport-Security" not in response
