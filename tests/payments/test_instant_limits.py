"""Instant limits through the merchant API: PATCH asks, a lower limit applies at once, a
higher one waits for a second person; a payment above a limit fails AM14 and moves nothing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone

from accounts.identity import gate, roles
from accounts.identity.audit import Actor
from accounts.ledger import limits
from accounts.ledger.selectors import ledger_verify
from accounts.models import Account, AuditEvent, InstantLimitChange
from payments import api_keys, instant_limits
from payments.models import MerchantAPIKey, Payment
from tests.helpers import fresh_code, make_operator

pytestmark = pytest.mark.django_db


def patch(shop, **body):
    return shop.client.patch(f"/api/v1/accounts/{shop.account.pk}/", body, format="json")


def set_limits(account: Account, per_payment: int | None, per_day: int | None) -> None:
    Account.objects.filter(pk=account.pk).update(
        instant_limit_per_payment=per_payment, instant_limit_per_day=per_day
    )


def confirm(change_id: int, user) -> InstantLimitChange:
    return limits.instant_limit_change_decide(
        change_id=change_id, approve=True, actor=Actor.for_user(user), otp_token=fresh_code(user)
    )


def test_a_lower_limit_applies_at_once(shop):
    response = patch(shop, instant_limit_per_payment="50.00", instant_limit_per_day="200.00")

    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["instant_limit_per_payment"] == "50.00"
    assert body["instant_limit_per_day"] == "200.00"
    assert body["instant_limit_pending"] is None
    shop.account.refresh_from_db()
    assert (shop.account.instant_limit_per_payment, shop.account.instant_limit_per_day) == (
        5000,
        20000,
    )
    assert AuditEvent.objects.filter(action="instant_limit.apply").count() == 1
    assert shop.client.get(f"/api/v1/accounts/{shop.account.pk}/").json()[
        "instant_limit_per_payment"
    ] == ("50.00")


def test_a_higher_limit_waits_for_a_second_person(shop):
    set_limits(shop.account, 5000, None)

    response = patch(shop, instant_limit_per_payment="80.00")

    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["instant_limit_per_payment"] == "50.00"  # still in force
    pending = body["instant_limit_pending"]
    assert pending["status"] == "pending"
    assert pending["instant_limit_per_payment"] == "80.00"
    assert "instant_limit_per_day" not in pending  # not touched
    assert shop.pay("60.00").json()["failure_code"] == "AM14"
    assert AuditEvent.objects.filter(action="instant_limit.request").count() == 1


def test_none_where_there_was_a_limit_is_a_raise(shop):
    set_limits(shop.account, 5000, 20000)

    body = patch(shop, instant_limit_per_day=None, instant_limit_per_payment="10.00").json()

    assert body["instant_limit_per_payment"] == "10.00"  # lowered: at once
    assert body["instant_limit_per_day"] == "200.00"  # removing it waits
    assert body["instant_limit_pending"]["instant_limit_per_day"] is None


def test_a_confirmed_raise_lets_a_larger_payment_through(shop):
    set_limits(shop.account, 5000, None)
    change_id = patch(shop, instant_limit_per_payment="80.00").json()["instant_limit_pending"]["id"]
    assert shop.pay("60.00").json()["status"] == "failed"

    confirm(change_id, make_operator(roles.APPROVER, username="second"))

    assert shop.pay("60.00").json()["status"] == "completed"
    body = shop.client.get(f"/api/v1/accounts/{shop.account.pk}/").json()
    assert body["instant_limit_per_payment"] == "80.00"
    assert body["instant_limit_pending"] is None
    assert AuditEvent.objects.filter(action="instant_limit.confirm").count() == 1


def test_the_keys_creator_cannot_confirm_the_raise_the_key_asked_for(shop):
    # given: a key made by a person (approved by another), who asks for a higher limit
    person = make_operator(roles.APPROVER, username="keymaker")
    api_key, key = api_keys.api_key_create(
        merchant=shop.merchant, name="mine", actor=Actor.for_user(person)
    )
    MerchantAPIKey.objects.filter(pk=api_key.pk).update(approved_at=timezone.now())
    shop.client.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    set_limits(shop.account, 5000, None)
    change_id = patch(shop, instant_limit_per_payment="80.00").json()["instant_limit_pending"]["id"]

    # when / then: the same person is refused, before any code is spent
    with pytest.raises(gate.NotAllowed, match="another person must decide"):
        confirm(change_id, person)
    shop.account.refresh_from_db()
    assert shop.account.instant_limit_per_payment == 5000
    assert InstantLimitChange.objects.get(pk=change_id).status == "pending"


def test_a_new_request_supersedes_the_one_that_waits(shop):
    set_limits(shop.account, 5000, None)
    first = patch(shop, instant_limit_per_payment="80.00").json()["instant_limit_pending"]["id"]

    second = patch(shop, instant_limit_per_payment="90.00").json()["instant_limit_pending"]["id"]

    assert InstantLimitChange.objects.get(pk=first).status == "superseded"
    with pytest.raises(Exception, match="superseded"):
        confirm(first, make_operator(roles.APPROVER, username="second"))
    assert InstantLimitChange.objects.get(pk=second).status == "pending"


@pytest.mark.parametrize(
    "body",
    [
        {"instant_limit_per_payment": "0"},
        {"instant_limit_per_payment": "-5.00"},
        {"instant_limit_per_day": "1.001"},
        {"instant_limit_per_day": 12.5},
        {"balance": "1000000.00"},
        {},
    ],
)
def test_bad_limits_are_refused_and_change_nothing(shop, body):
    response = patch(shop, **body)

    assert response.status_code == 400, response.json()
    assert response.json()["code"]
    shop.account.refresh_from_db()
    assert shop.account.instant_limit_per_payment is None
    assert not InstantLimitChange.objects.exists()


def test_another_merchants_account_answers_404(shop, rival):
    response = rival.client.patch(
        f"/api/v1/accounts/{shop.account.pk}/", {"instant_limit_per_payment": "1.00"}
    )
    assert response.status_code == 404


def test_a_payment_above_the_limit_per_payment_fails_am14_and_moves_nothing(shop):
    set_limits(shop.account, 5000, None)

    response = shop.pay("50.01")

    assert response.status_code == 201
    body = response.json()
    assert (body["status"], body["failure_code"]) == ("failed", "AM14")
    assert "instant limit" in body["failure_message"]
    shop.account.refresh_from_db()
    assert (shop.account.balance, shop.account.held) == (100_000, 0)
    assert shop.pay("50.00").json()["status"] == "completed"
    assert ledger_verify()["ok"]


def test_an_authorization_above_the_limit_fails_and_holds_nothing(shop):
    set_limits(shop.account, 5000, None)

    body = shop.pay("70.00", capture=False).json()

    assert (body["status"], body["failure_code"]) == ("failed", "AM14")
    shop.account.refresh_from_db()
    assert shop.account.held == 0


def test_the_day_counts_every_outbound_payment_of_the_day(shop):
    set_limits(shop.account, None, 10_000)  # 100.00 a day
    assert shop.pay("40.00").json()["status"] == "completed"
    assert shop.pay("30.00", capture=False).json()["status"] == "authorized"  # held counts
    assert shop.pay("10.00").json()["status"] == "completed"

    over = shop.pay("20.01").json()
    exact = shop.pay("20.00").json()

    assert (over["status"], over["failure_code"]) == ("failed", "AM14")
    assert exact["status"] == "completed"
    assert shop.pay("0.01").json()["failure_code"] == "AM14"
    shop.account.refresh_from_db()
    assert shop.account.balance == 100_000 - 7000 and shop.account.held == 3000


def test_a_failed_or_voided_payment_does_not_count(shop):
    set_limits(shop.account, None, 10_000)
    authorized = shop.pay("90.00", capture=False).json()
    shop.client.post(f"/api/v1/payments/{authorized['id']}/void/")

    assert shop.pay("100.00").json()["status"] == "completed"


def test_yesterdays_payments_do_not_count(shop):
    set_limits(shop.account, None, 10_000)
    assert shop.pay("90.00").json()["status"] == "completed"
    start, _ = instant_limits.day_window()
    Payment.objects.update(created_at=start - timedelta(seconds=1))

    assert shop.pay("90.00").json()["status"] == "completed"


def test_the_day_is_the_hubs_calendar_day(settings):
    settings.TIME_ZONE = "Europe/Berlin"
    timezone.deactivate()
    moment = datetime(2026, 12, 7, 23, 30, tzinfo=UTC)  # 00:30 on the 8th in Berlin

    start, end = instant_limits.day_window(moment)

    assert start.isoformat() == "2026-12-08T00:00:00+01:00"
    assert end - start == timedelta(days=1)
