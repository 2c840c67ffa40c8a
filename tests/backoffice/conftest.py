"""Fixtures of the back-office tests: a small world with every kind of row an admin shows."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from accounts.identity.audit import Actor
from accounts.models import Account, Merchant
from batches.models import Batch, BatchItem
from payments import services
from payments.models import Payment, Refund, WebhookAttempt, WebhookDelivery
from tests.factories import AccountFactory, MerchantFactory, fund

# Amounts chosen so that minor units and major units can never be mistaken for each other.
FUNDED = 100_000_000  # 1,000,000.00 EUR
PAID = 1_234_567  # 12,345.67 EUR
REFUNDED = 200_000  # 2,000.00 EUR
AUTHORIZED = 765_432  # 7,654.32 EUR


@dataclass
class World:
    merchant: Merchant
    debtor: Account
    creditor: Account
    paid: Payment
    authorized: Payment
    refund: Refund
    batch: Batch
    item: BatchItem
    delivery: WebhookDelivery


@pytest.fixture
def world(db) -> World:
    merchant = MerchantFactory(name="Supplier Shop", webhook_url="https://shop.example/hooks")
    debtor = AccountFactory(merchant=merchant, currency="EUR", number="WORLD0001")
    creditor = AccountFactory(merchant=None, currency="EUR", number="WORLD0002")
    fund(debtor, FUNDED)
    paid = services.payment_authorize(
        merchant=merchant,
        debtor=debtor,
        creditor=creditor,
        amount=PAID,
        currency="EUR",
        reference="Invoice 2026-114 Supplier",
        end_to_end_id="E2E-ACME-000042",
    )
    refund = services.payment_refund(payment_id=paid.pk, amount=REFUNDED, reason="damaged")
    authorized = services.payment_authorize(
        merchant=merchant,
        debtor=debtor,
        creditor=creditor,
        amount=AUTHORIZED,
        currency="EUR",
        reference="order 1002",
        capture=False,
    )
    batch = Batch.objects.create(
        merchant=merchant,
        debtor_account=debtor,
        status=Batch.Status.AWAITING_APPROVAL,
        file_name="payouts-march.csv",
        file_sha256="0" * 64,
        format=Batch.Format.CSV,
        message_id="MSG-2026-03-01",
        currency="EUR",
        item_count=1,
        valid_count=1,
        total_amount=PAID,
    )
    item = BatchItem.objects.create(
        batch=batch,
        row=1,
        creditor_account_number=creditor.number,
        creditor_account=creditor,
        amount_text="12345.67",
        amount=PAID,
        currency="EUR",
        reference="salary",
        status=BatchItem.Status.VALID,
    )
    delivery = WebhookDelivery.objects.filter(payment=paid).first()
    assert delivery is not None
    WebhookAttempt.objects.create(
        delivery=delivery, at=delivery.created_at, status_code=500, error="HTTP 500"
    )
    paid.refresh_from_db()
    authorized.refresh_from_db()
    debtor.refresh_from_db()
    return World(
        merchant=merchant,
        debtor=debtor,
        creditor=creditor,
        paid=paid,
        authorized=authorized,
        refund=refund,
        batch=batch,
        item=item,
        delivery=delivery,
    )


@pytest.fixture
def actor() -> Actor:
    return Actor.system("tests")
