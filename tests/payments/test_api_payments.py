"""The merchant API's payment endpoints, every status and error code."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.ledger.selectors import ledger_verify
from accounts.models import Account, Hold
from payments.models import Payment

pytestmark = pytest.mark.django_db


def balances(*accounts: Account) -> tuple[int, ...]:
    for account in accounts:
        account.refresh_from_db()
    return tuple(account.balance for account in accounts)


def test_a_payment_is_authorized_and_captured_in_one_call(shop):
    response = shop.pay("12.50")

    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["status"] == "completed"
    assert body["amount"] == "12.50" and body["currency"] == "EUR"
    assert body["debtor_account"] == shop.account.number
    assert body["creditor_account"] == shop.payee.number
    assert body["authorization_code"] and body["failure_code"] is None
    assert balances(shop.account, shop.payee) == (100_000 - 1250, 1250)
    assert ledger_verify()["ok"]


def test_authorize_then_capture_part_releases_the_rest(shop):
    authorized = shop.pay("100.00", capture=False).json()
    assert authorized["status"] == "authorized"
    assert authorized["expires_at"] is not None
    shop.account.refresh_from_db()
    assert (shop.account.balance, shop.account.held) == (100_000, 10_000)

    response = shop.client.post(
        f"/api/v1/payments/{authorized['id']}/capture/", {"amount": "60.00"}, format="json"
    )

    assert response.status_code == 200, response.json()
    assert response.json()["status"] == "completed"
    assert response.json()["captured_amount"] == "60.00"
    shop.account.refresh_from_db()
    assert (shop.account.balance, shop.account.held) == (94_000, 0)
    assert balances(shop.payee) == (6000,)


def test_void_releases_the_hold(shop):
    authorized = shop.pay("100.00", capture=False).json()

    response = shop.client.post(f"/api/v1/payments/{authorized['id']}/void/")

    assert response.status_code == 200 and response.json()["status"] == "voided"
    shop.account.refresh_from_db()
    assert (shop.account.balance, shop.account.held) == (100_000, 0)
    again = shop.client.post(f"/api/v1/payments/{authorized['id']}/void/")
    assert again.status_code == 409 and again.json()["code"] == "invalid_state"


def test_capture_after_expiry_is_refused_and_the_expiry_job_releases_the_hold(shop):
    from payments.services import expire_stale_authorizations

    authorized = shop.pay("100.00", capture=False).json()
    Payment.objects.filter(pk=authorized["id"]).update(
        expires_at=timezone.now() - timedelta(seconds=1)
    )

    response = shop.client.post(f"/api/v1/payments/{authorized['id']}/capture/")

    assert response.status_code == 409
    assert response.json()["code"] == "authorization_expired"
    assert expire_stale_authorizations() == 1
    assert Payment.objects.get(pk=authorized["id"]).status == "expired"
    shop.account.refresh_from_db()
    assert (shop.account.balance, shop.account.held) == (100_000, 0)
    assert Hold.objects.get(payments__id=authorized["id"]).status == "released"


def test_refund_in_parts_then_in_full_and_never_more(shop):
    paid = shop.pay("50.00").json()
    url = f"/api/v1/payments/{paid['id']}/refunds/"

    first = shop.client.post(url, {"amount": "20.00", "reason": "damaged"}, format="json")
    assert first.status_code == 201 and first.json()["amount"] == "20.00"
    assert (
        shop.client.get(f"/api/v1/payments/{paid['id']}/").json()["status"] == "partially_refunded"
    )

    too_much = shop.client.post(url, {"amount": "30.01"}, format="json")
    assert too_much.status_code == 409
    assert too_much.json()["code"] == "refund_exceeds_payment"

    rest = shop.client.post(url, {}, format="json")
    assert rest.status_code == 201 and rest.json()["amount"] == "30.00"
    assert shop.client.get(f"/api/v1/payments/{paid['id']}/").json()["status"] == "refunded"
    assert balances(shop.account, shop.payee) == (100_000, 0)
    assert shop.client.post(url, {}, format="json").status_code == 409
    assert ledger_verify()["ok"]


def test_insufficient_funds_is_a_recorded_failed_payment(shop):
    response = shop.pay("1000.01")

    assert response.status_code == 201
    assert response.json()["status"] == "failed"
    assert response.json()["failure_code"] == "insufficient_funds"
    assert response.json()["failure_message"]
    assert Payment.objects.get(pk=response.json()["id"]).status == "failed"
    assert balances(shop.account, shop.payee) == (100_000, 0)


def test_frozen_account_is_a_recorded_failed_payment(shop):
    Account.objects.filter(pk=shop.account.pk).update(status="frozen")
    response = shop.pay("1.00")
    assert response.status_code == 201
    assert response.json()["failure_code"] == "account_frozen"


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"amount": "1.234"}, "amount"),
        ({"amount": "-1.00"}, "amount"),
        ({"amount": "0"}, "amount"),
        ({"amount": 12.5}, "amount"),
        ({"amount": "abc"}, "amount"),
        ({"currency": "XYZ"}, "currency"),
        ({"currency": "EURO"}, "currency"),
        ({"creditor_account": "NOPE"}, "creditor_account"),
        ({"debtor_account": "NOPE"}, "debtor_account"),
        ({"reference": "x" * 141}, "reference"),
    ],
)
def test_invalid_input_is_400_with_field_errors_and_creates_nothing(shop, change, field):
    response = shop.pay(**change)

    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "invalid"
    assert field in body["errors"]
    assert Payment.objects.count() == 0


def test_same_debtor_and_creditor_is_refused(shop):
    response = shop.pay(creditor_account=shop.account.number)
    assert response.status_code == 400 and "creditor_account" in response.json()["errors"]
    assert Payment.objects.count() == 0


def test_missing_fields_are_named(shop):
    response = shop.client.post("/api/v1/payments/", {}, format="json")
    assert response.status_code == 400
    assert set(response.json()["errors"]) >= {
        "debtor_account",
        "creditor_account",
        "amount",
        "currency",
    }


def test_another_merchants_payment_is_404_for_every_action(shop, rival):
    paid = rival.pay("10.00").json()
    authorized = rival.pay("10.00", capture=False).json()

    assert shop.client.get(f"/api/v1/payments/{paid['id']}/").status_code == 404
    assert shop.client.post(f"/api/v1/payments/{authorized['id']}/capture/").status_code == 404
    assert shop.client.post(f"/api/v1/payments/{authorized['id']}/void/").status_code == 404
    response = shop.client.post(f"/api/v1/payments/{paid['id']}/refunds/", {}, format="json")
    assert response.status_code == 404 and response.json()["code"] == "not_found"
    assert Payment.objects.get(pk=authorized["id"]).status == "authorized"
    assert Payment.objects.get(pk=paid["id"]).refunded_amount == 0
    assert shop.client.get("/api/v1/payments/").json()["results"] == []


def test_paying_from_another_merchants_account_is_refused(shop, rival):
    response = shop.pay(debtor_account=rival.account.number)
    assert response.status_code == 400 and "debtor_account" in response.json()["errors"]
    assert balances(rival.account) == (100_000,)


def test_list_filters_and_cursor_pagination(shop):
    for index in range(5):
        shop.pay("1.00", reference=f"ref-{index}")
    shop.pay("5000.00")  # fails: insufficient funds

    page = shop.client.get("/api/v1/payments/", {"limit": 2}).json()
    assert len(page["results"]) == 2 and page["next"] and page["previous"] is None
    second = shop.client.get(page["next"]).json()
    assert len(second["results"]) == 2
    assert {p["id"] for p in page["results"]}.isdisjoint({p["id"] for p in second["results"]})

    failed = shop.client.get("/api/v1/payments/", {"status": "failed"}).json()["results"]
    assert [p["amount"] for p in failed] == ["5000.00"]
    by_ref = shop.client.get("/api/v1/payments/", {"reference": "ref-3"}).json()["results"]
    assert [p["reference"] for p in by_ref] == ["ref-3"]
    future = (timezone.now() + timedelta(hours=1)).isoformat()
    assert shop.client.get("/api/v1/payments/", {"created_after": future}).json()["results"] == []
    assert (
        len(
            shop.client.get("/api/v1/payments/", {"created_before": future, "limit": 200}).json()[
                "results"
            ]
        )
        == 6
    )
    assert shop.client.get("/api/v1/payments/", {"status": "bogus"}).status_code == 400
    assert shop.client.get("/api/v1/payments/", {"limit": 1000}).status_code == 200


def test_no_key_bad_key_and_revoked_key_are_401(shop):
    from accounts.identity.audit import Actor
    from payments.api_keys import api_key_revoke

    anonymous = APIClient()
    response = anonymous.get("/api/v1/payments/")
    assert response.status_code == 401 and response.json()["code"] == "not_authenticated"
    assert response["WWW-Authenticate"].startswith("Bearer")

    bad = APIClient()
    bad.credentials(HTTP_AUTHORIZATION=f"Bearer {shop.key}x")
    assert bad.get("/api/v1/payments/").json()["code"] == "authentication_failed"
    wrong_scheme = APIClient()
    wrong_scheme.credentials(HTTP_AUTHORIZATION=f"Token {shop.key}")
    assert wrong_scheme.get("/api/v1/payments/").status_code == 401

    assert shop.client.get("/api/v1/payments/").status_code == 200
    api_key_revoke(prefix=shop.api_key.prefix, actor=Actor.system("test"))
    response = shop.client.get("/api/v1/payments/")
    assert response.status_code == 401 and response.json()["code"] == "authentication_failed"
    assert shop.pay().status_code == 401


def test_expired_key_is_refused(shop):
    type(shop.api_key).objects.filter(pk=shop.api_key.pk).update(
        expiry_date=timezone.now() - timedelta(days=1)
    )
    assert shop.client.get("/api/v1/payments/").status_code == 401


def test_last_used_time_is_recorded(shop):
    shop.client.get("/api/v1/accounts/")
    shop.api_key.refresh_from_db()
    assert shop.api_key.last_used_at is not None


def test_error_shapes_for_404_405_415_and_parse_errors(shop):
    missing = shop.client.get("/api/v1/payments/00000000-0000-0000-0000-000000000000/")
    assert missing.status_code == 404 and missing.json()["code"] == "not_found"
    not_uuid = shop.client.get("/api/v1/payments/not-a-uuid/")
    assert not_uuid.status_code == 404 and not_uuid.json()["code"] == "not_found"
    no_route = shop.client.get("/api/v1/nothing-here/")
    assert no_route.status_code == 404 and no_route.json()["code"] == "not_found"
    method = shop.client.delete("/api/v1/payments/")
    assert method.status_code == 405 and method.json()["code"] == "method_not_allowed"
    media = shop.client.post("/api/v1/payments/", "amount=1", content_type="text/plain")
    assert media.status_code == 415 and media.json()["code"] == "unsupported_media_type"
    broken = shop.client.post("/api/v1/payments/", "{not json", content_type="application/json")
    assert broken.status_code == 400 and broken.json()["code"] == "parse_error"


def test_unhandled_errors_are_500_json_without_a_traceback(shop, monkeypatch):
    from payments import services

    def explode(**kwargs):
        raise RuntimeError("secret internals")

    monkeypatch.setattr(services, "payment_authorize", explode)
    client = shop.client
    client.raise_request_exception = False
    response = shop.pay()
    assert response.status_code == 500
    assert response.json()["code"] == "server_error"
    assert "secret internals" not in response.content.decode()
    assert "Traceback" not in response.content.decode()


def test_throttling_answers_429_once_the_budget_is_spent(shop):
    from payments.api.auth import APIKeyRateThrottle

    original = APIKeyRateThrottle.THROTTLE_RATES
    APIKeyRateThrottle.THROTTLE_RATES = {"api_key": "3/minute"}
    try:
        statuses = [shop.client.get("/api/v1/accounts/").status_code for _ in range(5)]
    finally:
        APIKeyRateThrottle.THROTTLE_RATES = original
    assert statuses == [200, 200, 200, 429, 429]


def test_throttled_response_shape(shop):
    from payments.api.auth import APIKeyRateThrottle

    original = APIKeyRateThrottle.THROTTLE_RATES
    APIKeyRateThrottle.THROTTLE_RATES = {"api_key": "1/minute"}
    try:
        shop.client.get("/api/v1/accounts/")
        response = shop.client.get("/api/v1/accounts/")
    finally:
        APIKeyRateThrottle.THROTTLE_RATES = original
    assert response.status_code == 429
    assert response.json()["code"] == "throttled"
    assert int(response["Retry-After"]) > 0


@pytest.mark.parametrize("capture", [True, False])
def test_payment_representation_is_the_declared_fields(shop, capture):
    # The hand-written PaymentSerializer.to_representation must say what DRF's generic
    # rendering of the declared fields says (the schema is generated from those).
    from rest_framework import serializers as drf

    from payments.api.serializers import PaymentSerializer

    shop.pay(capture=capture)
    shop.pay(amount="999999.00")  # a failed one: failure code and message
    for payment in Payment.objects.select_related("debtor_account", "creditor_account"):
        serializer = PaymentSerializer(payment)
        generic = drf.ModelSerializer.to_representation(serializer, payment)
        assert serializer.data == generic
        assert list(serializer.data) == list(generic)


def test_throttle_counts_per_key_and_window(shop, rival):
    from payments.api.auth import APIKeyRateThrottle

    original = APIKeyRateThrottle.THROTTLE_RATES
    APIKeyRateThrottle.THROTTLE_RATES = {"api_key": "2/hour"}
    try:
        mine = [shop.client.get("/api/v1/accounts/").status_code for _ in range(3)]
        theirs = [rival.client.get("/api/v1/accounts/").status_code for _ in range(2)]
    finally:
        APIKeyRateThrottle.THROTTLE_RATES = original
    assert mine == [200, 200, 429]
    assert theirs == [200, 200]  # another key has its own budget


@pytest.mark.parametrize(
    ("created_before", "status"),
    [
        ("0325-01-10T15:45:42.7+17:18", 200),  # an offset Python reads and PostgreSQL refuses
        ("2999-01-01T00:00:00-23:59", 200),
        ("0001-01-01T00:00:00+05:00", 400),  # no UTC time: before year 1
        ("yesterday", 400),
    ],
)
def test_time_filters_take_any_iso_time_or_refuse_it_cleanly(shop, created_before, status):
    shop.pay()
    response = shop.client.get("/api/v1/payments/", {"created_before": created_before})
    assert response.status_code == status, response.content
    if status == 400:
        assert response.json()["code"] == "invalid"
