"""One payment's page: its fields, ledger transactions, refunds and webhook events; no secrets."""

from __future__ import annotations

import re
import uuid

import pytest

from accounts.identity.audit import Actor
from payments import api_keys, services
from payments.models import WebhookDelivery
from tests.factories import AccountFactory, MerchantFactory, fund

pytestmark = pytest.mark.django_db


@pytest.fixture
def story(db):
    """A captured payment of 12.50 EUR, refunded 2.50, by a merchant with a webhook endpoint."""
    merchant = MerchantFactory(name="Bakery", webhook_url="https://bakery.example/hooks")
    api_key, key = api_keys.api_key_create(merchant=merchant, name="till", actor=Actor.system())
    debtor = AccountFactory(merchant=merchant, currency="EUR", number="BAKERY-EUR")
    fund(debtor, 100_000)
    creditor = AccountFactory(merchant=None, currency="EUR", number="FLOUR-MILL")
    payment = services.payment_authorize(
        merchant=merchant,
        debtor=debtor,
        creditor=creditor,
        amount=1_250,
        currency="EUR",
        reference="order-77",
        api_key=api_key,
    )
    refund = services.payment_refund(payment_id=payment.pk, amount=250, reason="stale bread")
    other = services.payment_authorize(
        merchant=merchant, debtor=debtor, creditor=creditor, amount=99, currency="EUR"
    )
    return {
        "payment": payment,
        "refund": refund,
        "other": other,
        "key": key,
        "api_key": api_key,
        "merchant": merchant,
    }


def test_the_page_shows_the_payment_and_its_money(operator_client, story):
    payment = story["payment"]

    response = operator_client.get(f"/payments/{payment.pk}/")

    assert response.status_code == 200
    page = response.content.decode()
    assert str(payment.pk) in page
    assert "12.50 EUR" in page
    assert "Partially refunded" in page
    assert "order-77" in page
    assert "BAKERY-EUR" in page and "FLOUR-MILL" in page
    assert "stale bread" in page
    assert "10.00 EUR" in page  # left to refund
    assert "API key “till”" in page


def test_the_ledger_transactions_are_listed_with_their_entries(operator_client, story):
    payment, refund = story["payment"], story["refund"]

    page = operator_client.get(f"/payments/{payment.pk}/").content.decode()

    table = page.split('id="ledger-transactions"')[1].split("</table>")[0]
    assert f"LT{payment.ledger_transaction_id}" in table
    assert f"LT{refund.ledger_transaction_id}" in table
    amounts = re.findall(r'<td class="amount">([+-][\d,.]+) EUR</td>', table)
    assert amounts == ["-12.50", "+12.50", "-2.50", "+2.50"]
    assert f"LT{story['other'].ledger_transaction_id}" not in table


def test_the_webhook_events_of_the_payment_are_listed(operator_client, story):
    payment = story["payment"]
    assert WebhookDelivery.objects.count() == 3  # two for this payment, one for the other

    page = operator_client.get(f"/payments/{payment.pk}/").content.decode()

    table = page.split('id="webhooks"')[1].split("</table>")[0]
    assert re.findall(r"<code>(payment\.\w+)</code>", table) == [
        "payment.completed",
        "payment.refunded",
    ]


def test_the_page_never_shows_secrets(operator_client, story):
    page = operator_client.get(f"/payments/{story['payment'].pk}/").content.decode()

    api_key = story["api_key"]
    secret_part = story["key"].split(".", 1)[1]
    assert story["key"] not in page
    assert secret_part not in page
    assert api_key.hashed_key not in page
    assert story["merchant"].webhook_secret not in page


def test_an_unknown_payment_is_404(operator_client, db):
    assert operator_client.get(f"/payments/{uuid.uuid4()}/").status_code == 404
    assert operator_client.get("/payments/not-a-uuid/").status_code == 404


def test_another_merchants_payment_is_visible_to_operators(operator_client, story):
    """Operators are the hub's staff: every merchant's payments are theirs to read."""
    rival = MerchantFactory(name="Rival")
    account = AccountFactory(merchant=rival, currency="EUR")
    fund(account, 1_000)
    payment = services.payment_authorize(
        merchant=rival,
        debtor=account,
        creditor=AccountFactory(merchant=None, currency="EUR"),
        amount=5_000,
        currency="EUR",
    )

    page = operator_client.get(f"/payments/{payment.pk}/").content.decode()

    assert "Failed" in page and "insufficient_funds" in page
    assert "No money has moved for this payment" in page
