"""Fixtures of the dashboard tests: payments made directly with chosen statuses and times."""

from __future__ import annotations

from datetime import date, datetime, time
from itertools import count
from typing import Any

import pytest
from django.utils import timezone

from accounts.models import Account, Merchant
from payments.models import Payment
from tests.factories import AccountFactory, MerchantFactory

_sequence = count(1)

PINNED_TODAY = date(2024, 5, 15)


def at(day: date, hour: int = 12, minute: int = 0) -> datetime:
    """A moment of `day` in TIME_ZONE."""
    return datetime.combine(day, time(hour, minute), tzinfo=timezone.get_current_timezone())


def make_payment(
    *,
    merchant: Merchant,
    debtor: Account,
    creditor: Account,
    amount: int,
    currency: str | None = None,
    status: str = Payment.Status.COMPLETED,
    created_at: datetime | None = None,
    **fields: Any,
) -> Payment:
    """A payment row with the given status and creation time, without moving money.

    For the read side only (figures, searches, exports): the ledger is tested elsewhere.
    """
    captured = amount if status in ("completed", "refunded", "partially_refunded") else 0
    refunded = {"refunded": captured, "partially_refunded": captured // 2}.get(status, 0)
    payment = Payment.objects.create(
        merchant=merchant,
        debtor_account=debtor,
        creditor_account=creditor,
        amount=amount,
        currency=currency or debtor.currency,
        status=status,
        captured_amount=captured,
        refunded_amount=refunded,
        reference=fields.pop("reference", f"ref-{next(_sequence)}"),
        failure_code=fields.pop("failure_code", "insufficient_funds" if status == "failed" else ""),
        **fields,
    )
    if created_at is not None:
        Payment.objects.filter(pk=payment.pk).update(created_at=created_at)
        payment.refresh_from_db()
    return payment


class Shop:
    """A merchant with an EUR and a JPY account, and a payee for each."""

    def __init__(self, name: str = "Shop") -> None:
        self.merchant = MerchantFactory(name=name)
        self.eur = AccountFactory(merchant=self.merchant, currency="EUR", number=f"{name}-EUR")
        self.jpy = AccountFactory(merchant=self.merchant, currency="JPY", number=f"{name}-JPY")
        self.eur_payee = AccountFactory(merchant=None, currency="EUR", number=f"{name}-PAYEE-EUR")
        self.jpy_payee = AccountFactory(merchant=None, currency="JPY", number=f"{name}-PAYEE-JPY")

    def pay(self, amount: int, currency: str = "EUR", **fields: Any) -> Payment:
        debtor, creditor = (
            (self.eur, self.eur_payee) if currency == "EUR" else (self.jpy, self.jpy_payee)
        )
        return make_payment(
            merchant=self.merchant, debtor=debtor, creditor=creditor, amount=amount, **fields
        )


@pytest.fixture
def shop(db) -> Shop:
    return Shop("Shop")


# The batch desk's and the back office's small worlds, for tests/dashboard/test_desk.py.
from tests.backoffice.conftest import world  # noqa: E402, F401
from tests.dashboard.test_batches_pages import desk  # noqa: E402, F401
