"""Funds reserved at approval: an approved batch never fails for funds.

The last approval holds each debtor account's share; execution pays from the hold,
a row that fails gives its share back, and the batch's end releases the rest.
"""

from __future__ import annotations

import pytest

from accounts.identity.audit import Actor
from accounts.ledger import posting
from accounts.ledger.errors import InsufficientFunds
from accounts.ledger.selectors import ledger_verify
from accounts.models import Account, AuditEvent, Hold
from batches import services
from batches.models import Batch, BatchHold
from payments.models import Payment
from tests.factories import AccountFactory, fund
from tests.helpers import fresh_code

pytestmark = pytest.mark.django_db


def validated(desk, *rows) -> Batch:
    return services.batch_validate(batch_id=desk.upload(desk.csv(*rows)).id)


def approve(batch: Batch, user) -> Batch:
    return services.batch_approve(
        batch_id=batch.id, approver=user, actor=Actor.for_user(user), otp_token=fresh_code(user)
    )


@pytest.fixture
def small_desk(desk):
    """The desk's account with 100.00 EUR only."""
    account = AccountFactory(merchant=desk.merchant, currency="EUR", number="SMALL0001")
    fund(account, 10_000)
    desk.account = account
    return desk


def test_two_batches_with_funds_for_one_the_second_approval_is_refused_am04(small_desk):
    desk = small_desk
    first = validated(desk, ("PAYEE0000", "70.00", "EUR", "a", "A1"))
    second = validated(desk, ("PAYEE0001", "60.00", "EUR", "b", "B1"))

    first = approve(first, desk.checker)
    with pytest.raises(services.FundsShort, match="AM04") as refused:
        approve(second, desk.checker)

    assert refused.value.reason_code == "AM04"
    second.refresh_from_db()
    assert first.status == Batch.Status.EXECUTING
    assert second.status == Batch.Status.AWAITING_APPROVAL
    assert not second.approvals.exists()
    desk.account.refresh_from_db()
    assert (desk.account.balance, desk.account.held) == (10_000, 7_000)
    assert list(Hold.objects.filter(account=desk.account).values_list("amount", flat=True)) == [
        7_000
    ]
    assert not BatchHold.objects.filter(batch=second).exists()
    assert AuditEvent.objects.filter(
        action="batch.approve_refused", target_id=str(second.pk)
    ).exists()
    assert ledger_verify()["ok"]


def test_an_account_drained_after_approval_still_pays_the_batch(small_desk):
    desk = small_desk
    batch = approve(validated(desk, ("PAYEE0000", "70.00", "EUR", "a", "A1")), desk.checker)
    elsewhere = AccountFactory(merchant=None, currency="EUR")

    # at noon, someone tries to take everything out of the account
    with pytest.raises(InsufficientFunds):
        posting.transfer(
            debtor_id=desk.account.id, creditor_id=elsewhere.id, amount=10_000, currency="EUR"
        )
    posting.transfer(
        debtor_id=desk.account.id, creditor_id=elsewhere.id, amount=3_000, currency="EUR"
    )
    batch = services.batch_execute(batch_id=batch.id)

    assert batch.status == Batch.Status.COMPLETED
    desk.account.refresh_from_db()
    assert (desk.account.balance, desk.account.held) == (0, 0)
    hold = BatchHold.objects.get(batch=batch).hold
    assert (hold.status, hold.captured_amount, hold.released_amount) == ("captured", 7_000, 0)
    assert ledger_verify()["ok"]


def test_a_row_that_fails_gives_its_share_back_and_the_end_releases_the_rest(desk):
    batch = approve(
        validated(
            desk,
            ("PAYEE0000", "10.00", "EUR", "a", "A1"),
            ("PAYEE0001", "20.00", "EUR", "b", "B1"),
            ("PAYEE0002", "30.00", "EUR", "c", "C1"),
        ),
        desk.checker,
    )
    desk.account.refresh_from_db()
    assert desk.account.held == 6_000
    # the second creditor is frozen after the approval
    Account.objects.filter(number="PAYEE0001").update(status=Account.Status.FROZEN)

    batch = services.batch_execute(batch_id=batch.id)

    assert batch.status == Batch.Status.COMPLETED_WITH_ERRORS
    assert (batch.succeeded_count, batch.failed_count) == (2, 1)
    desk.account.refresh_from_db()
    assert (desk.account.balance, desk.account.held) == (5_000_000 - 4_000, 0)
    hold = BatchHold.objects.get(batch=batch).hold
    assert (hold.status, hold.captured_amount, hold.released_amount) == ("captured", 4_000, 2_000)
    assert ledger_verify()["ok"]


def test_a_killed_execution_resumes_and_pays_every_row_once_from_the_hold(desk, monkeypatch):
    rows = [(desk.payees[i % 5].number, "1.00", "EUR", f"r{i}", f"E{i}") for i in range(20_000)]
    batch = approve(approve(validated(desk, *rows), desk.checker), desk.checker2)
    assert batch.status == Batch.Status.EXECUTING  # 20,000.00 EUR: two approvers
    from batches.services import execution as batch_services

    real = batch_services.payments_create_for_batch
    calls = {"n": 0}

    def dies_on_the_third_chunk(**kwargs):
        calls["n"] += 1
        if calls["n"] == 3:
            raise SystemExit("worker killed")
        return real(**kwargs)

    monkeypatch.setattr(batch_services, "payments_create_for_batch", dies_on_the_third_chunk)
    with pytest.raises(SystemExit):
        services.batch_execute(batch_id=batch.id, chunk_size=5000)
    desk.account.refresh_from_db()
    assert desk.account.held == 2_000_000 - 10_000 * 100  # two chunks paid from the hold

    monkeypatch.setattr(batch_services, "payments_create_for_batch", real)
    batch = services.batch_execute(batch_id=batch.id, chunk_size=5000)

    assert batch.status == Batch.Status.COMPLETED and batch.succeeded_count == 20_000
    assert Payment.objects.filter(batch_id=batch.id).count() == 20_000
    desk.account.refresh_from_db()
    assert (desk.account.balance, desk.account.held) == (5_000_000 - 2_000_000, 0)
    hold = BatchHold.objects.get(batch=batch).hold
    assert hold.captured_amount == 2_000_000
    assert ledger_verify()["ok"]
