"""Instant limits on batch rows: a row above the limit per payment is invalid at validation
(AM14); the limit per day is counted at execution under the debtor's lock, rows past it fail
AM14 and give their held share back."""

from __future__ import annotations

import pytest

from accounts.identity.audit import Actor
from accounts.ledger.selectors import ledger_verify
from accounts.models import Account
from batches import services
from batches.models import Batch, BatchItem
from payments.models import Payment
from tests.helpers import fresh_code

pytestmark = pytest.mark.django_db


def validated(desk, *rows) -> Batch:
    return services.batch_validate(batch_id=desk.upload(desk.csv(*rows)).id)


def approved(desk, batch: Batch) -> Batch:
    user = desk.checker
    return services.batch_approve(
        batch_id=batch.id, approver=user, actor=Actor.for_user(user), otp_token=fresh_code(user)
    )


def limit(account: Account, **values) -> None:
    Account.objects.filter(pk=account.pk).update(**values)


def test_a_row_above_the_limit_per_payment_is_invalid_am14(desk):
    limit(desk.account, instant_limit_per_payment=10_000)

    batch = validated(
        desk, ("PAYEE0000", "100.00", "EUR", "a", "A1"), ("PAYEE0001", "100.01", "EUR", "b", "B1")
    )

    rows = {item.row: item for item in batch.items.all()}
    assert rows[1].status == BatchItem.Status.VALID
    assert (rows[2].status, rows[2].error_code) == (BatchItem.Status.INVALID, "AM14")
    assert "instant limit" in rows[2].error_message
    assert (batch.valid_count, batch.invalid_count) == (1, 1)


def test_rows_past_the_limit_per_day_fail_am14_at_execution(desk):
    batch = validated(
        desk,
        ("PAYEE0000", "60.00", "EUR", "a", "A1"),
        ("PAYEE0001", "30.00", "EUR", "b", "B1"),
        ("PAYEE0002", "20.00", "EUR", "c", "C1"),
        ("PAYEE0003", "10.00", "EUR", "d", "D1"),
    )
    batch = approved(desk, batch)
    # the day's room: 100.00, of which an earlier payment today used none
    limit(desk.account, instant_limit_per_day=10_000)

    batch = services.batch_execute(batch_id=batch.id, chunk_size=2)

    rows = {item.row: item for item in batch.items.all()}
    assert [rows[n].status for n in (1, 2, 3, 4)] == ["paid", "paid", "failed", "paid"]
    assert rows[3].error_code == "AM14"
    assert Payment.objects.get(batch_id=batch.id, batch_row=3).failure_code == "AM14"
    assert batch.status == Batch.Status.COMPLETED_WITH_ERRORS
    desk.account.refresh_from_db()
    assert (desk.account.balance, desk.account.held) == (5_000_000 - 10_000, 0)
    assert ledger_verify()["ok"]


def test_the_day_at_execution_counts_the_days_other_payments(desk):
    from payments.services import payment_authorize

    batch = approved(desk, validated(desk, ("PAYEE0000", "60.00", "EUR", "a", "A1")))
    payment_authorize(
        merchant=desk.merchant,
        debtor=desk.account,
        creditor=desk.payees[4],
        amount=5_000,
        currency="EUR",
    )
    limit(desk.account, instant_limit_per_day=10_000)

    batch = services.batch_execute(batch_id=batch.id)

    item = batch.items.get()
    assert (item.status, item.error_code) == ("failed", "AM14")
    desk.account.refresh_from_db()
    assert (desk.account.balance, desk.account.held) == (5_000_000 - 5_000, 0)
