"""Batch execution and real-time payments of the same accounts, on two connections.

A chunk writes its payments and rows before it locks any account, so a real-time payment
from the batch's debtor account commits meanwhile; one that comes while the chunk holds
the locks waits for its commit. Either way the ledger and every `balance_after` stay exact.
"""

from __future__ import annotations

import threading
from collections import defaultdict

import pytest
from django.db import connections
from django.test import override_settings

from accounts.identity.audit import Actor
from accounts.ledger import posting
from accounts.ledger.selectors import ledger_verify
from accounts.models import Account, LedgerEntry
from batches import services
from batches.models import Batch, BatchItem
from batches.services import execution
from payments import batch_orders
from payments import services as payment_services
from payments.models import Payment
from tests.factories import AccountFactory
from tests.helpers import fresh_code

pytestmark = pytest.mark.django_db(transaction=True)


def executing(desk, rows: int) -> Batch:
    content = desk.csv(
        *[(desk.payees[i % 5].number, "1.00", "EUR", f"r{i}", f"E{i}") for i in range(rows)]
    )
    batch = services.batch_validate(batch_id=desk.upload(content).id)
    batch = services.batch_approve(
        batch_id=batch.id,
        approver=desk.checker,
        actor=Actor.for_user(desk.checker),
        otp_token=fresh_code(desk.checker),
    )
    assert batch.status == Batch.Status.EXECUTING
    return batch


def pay_in_thread(desk, creditor: Account, results: list) -> threading.Thread:
    """A real-time payment of 2.50 from the batch's debtor, on its own connection."""

    def work() -> None:
        try:
            debtor = Account.objects.get(pk=desk.account.pk)
            results.append(
                payment_services.payment_authorize(
                    merchant=desk.merchant,
                    debtor=debtor,
                    creditor=creditor,
                    amount=250,
                    currency="EUR",
                    reference="real-time",
                )
            )
        except Exception as error:  # noqa: BLE001 - asserted on below
            results.append(error)
        finally:
            connections.close_all()

    thread = threading.Thread(target=work)
    thread.start()
    return thread


def assert_balances_follow_the_entries() -> None:
    """Each account's entries, in id order, add up to each `balance_after`, and the last
    one is the account's balance."""
    running: dict = defaultdict(int)
    last: dict = {}
    for account_id, amount, balance_after in LedgerEntry.objects.order_by("id").values_list(
        "account_id", "amount", "balance_after"
    ):
        running[account_id] += amount
        assert balance_after == running[account_id], account_id
        last[account_id] = balance_after
    for account_id, balance in Account.objects.values_list("id", "balance"):
        assert balance == last.get(account_id, 0)
    assert ledger_verify()["ok"]


def test_a_real_time_payment_from_the_debtor_commits_while_a_chunk_writes_its_rows(
    desk, monkeypatch
):
    batch = executing(desk, 12)
    outsider = AccountFactory(currency="EUR", number="OUTSIDER01")
    real_lock = posting.lock_accounts
    seen: dict = {}

    def lock_after_a_real_time_payment(account_ids):
        # The worker's first chunk, its payments and rows written, no lock yet (the
        # real-time payment's thread locks through here too).
        if threading.current_thread() is threading.main_thread() and "paid" not in seen:
            seen["written"] = Payment.objects.filter(batch_id=batch.id).count()
            results: list = []
            thread = pay_in_thread(desk, outsider, results)
            thread.join(timeout=20)
            # It did not wait for the chunk: nothing of the debtor's is locked yet.
            assert not thread.is_alive(), "the real-time payment waited for the chunk"
            seen["paid"] = results[0]
        return real_lock(account_ids)

    monkeypatch.setattr(posting, "lock_accounts", lock_after_a_real_time_payment)
    batch = services.batch_execute(batch_id=batch.id, chunk_size=5)

    assert seen["written"] == 5
    assert isinstance(seen["paid"], Payment) and seen["paid"].status == Payment.Status.COMPLETED
    assert batch.status == Batch.Status.COMPLETED and batch.succeeded_count == 12
    assert Payment.objects.filter(batch_id=batch.id).count() == 12
    desk.account.refresh_from_db()
    assert (desk.account.balance, desk.account.held) == (5_000_000 - 1_200 - 250, 0)
    outsider.refresh_from_db()
    assert outsider.balance == 250
    # The real-time payment's entry comes before the first chunk's on the debtor account.
    debtor_entries = list(
        LedgerEntry.objects.filter(account=desk.account).order_by("id").values_list("amount")
    )
    assert debtor_entries[1:3] == [(-250,), (-100,)]
    assert_balances_follow_the_entries()


def test_a_real_time_payment_that_comes_while_a_chunk_holds_the_locks_waits_for_its_commit(
    desk,
):
    batch = executing(desk, 12)
    outsider = AccountFactory(currency="EUR", number="OUTSIDER01")
    results: list = []
    threads: list = []

    def start_paying() -> None:
        if not threads:
            threads.append(pay_in_thread(desk, outsider, results))
            threads[0].join(timeout=1)
            # The debtor's lock is the chunk's until it commits.
            assert threads[0].is_alive() and not results

    real = batch_orders.payments_create_for_batch

    def with_hook(**kwargs):
        return real(**{**kwargs, "on_locked": start_paying})

    from batches.services import execution as batch_services

    try:
        batch_services.payments_create_for_batch = with_hook
        batch = services.batch_execute(batch_id=batch.id, chunk_size=5)
    finally:
        batch_services.payments_create_for_batch = real
    threads[0].join(timeout=20)

    assert isinstance(results[0], Payment) and results[0].status == Payment.Status.COMPLETED
    assert batch.status == Batch.Status.COMPLETED and batch.succeeded_count == 12
    desk.account.refresh_from_db()
    assert (desk.account.balance, desk.account.held) == (5_000_000 - 1_200 - 250, 0)
    # The first chunk's five entries on the debtor come before the real-time payment's.
    debtor_entries = list(
        LedgerEntry.objects.filter(account=desk.account).order_by("id").values_list("amount")
    )
    assert debtor_entries[1:7] == [(-100,)] * 5 + [(-250,)]
    assert_balances_follow_the_entries()


def test_a_row_refused_under_the_locks_is_failed_with_no_ledger_transaction(desk):
    batch = executing(desk, 7)
    # a payee frozen after the approval: its rows are refused when their chunk posts
    Account.objects.filter(number="PAYEE0001").update(status=Account.Status.FROZEN)

    batch = services.batch_execute(batch_id=batch.id, chunk_size=4)

    assert batch.status == Batch.Status.COMPLETED_WITH_ERRORS
    assert (batch.succeeded_count, batch.failed_count) == (5, 2)
    failed = BatchItem.objects.filter(batch=batch, status=BatchItem.Status.FAILED)
    assert sorted(failed.values_list("row", "error_code")) == [(2, "AC06"), (7, "AC06")]
    for item in failed.select_related("payment"):
        payment = item.payment
        assert payment is not None and payment.status == Payment.Status.FAILED
        assert (payment.captured_amount, payment.ledger_transaction_id) == (0, None)
        assert payment.failure_code == "account_frozen"
    paid = Payment.objects.filter(batch_id=batch.id, status=Payment.Status.COMPLETED)
    assert paid.count() == 5
    assert all(p.ledger_transaction.amount == p.amount for p in paid)  # each its own transaction
    assert set(
        BatchItem.objects.filter(batch=batch, status=BatchItem.Status.PAID).values_list(
            "payment_id", flat=True
        )
    ) == set(paid.values_list("id", flat=True))
    desk.account.refresh_from_db()
    assert (desk.account.balance, desk.account.held) == (5_000_000 - 500, 0)
    assert_balances_follow_the_entries()


def sized(size: int, *chunks: tuple[float, bool], calm: int = execution.CALM_CHUNKS) -> int:
    """The next size after chunks of (locked seconds, contended), from `size`."""
    sizer = execution._ChunkSizer()
    sizer.size, sizer.calm = size, calm
    for locked_seconds, contended in chunks:
        sizer.after(execution._ChunkDone(locked_seconds=locked_seconds, contended=contended))
    return sizer.size


@override_settings(BATCH_CHUNK_SIZE=1000, BATCH_CHUNK_LOCK_MS=50)
def test_chunks_grow_while_no_one_waits_and_fit_the_lock_budget_once_someone_does():
    # alone on its accounts: twice as many rows a chunk, up to BATCH_CHUNK_SIZE
    assert sized(200, (0.2, False)) == 400
    assert sized(800, (0.5, False)) == 1000
    # someone waited: held four times too long, a quarter as many, never below the smallest
    assert sized(800, (0.2, True)) == 200
    assert sized(100, (10.0, True)) == execution.SMALLEST_CHUNK
    # held half as long: twice as many, but never more than twice, nor BATCH_CHUNK_SIZE
    assert sized(300, (0.025, True)) == 600
    assert sized(300, (0.001, True)) == 600
    assert sized(800, (0.001, True)) == 1000
    # after a wait, the budget holds until CALM_CHUNKS chunks in a row kept no one waiting
    calm_but_one = [(0.05, False)] * (execution.CALM_CHUNKS - 1)
    assert sized(400, (0.1, True), *calm_but_one) == 200
    assert sized(400, (0.1, True), *calm_but_one, (0.05, False)) == 400


def test_a_chunk_knows_when_a_real_time_payment_waited_for_its_locks(desk):
    batch = executing(desk, 4)
    outsider = AccountFactory(currency="EUR", number="OUTSIDER01")
    results: list = []
    threads: list = []
    chunks: list = []

    def start_paying() -> None:
        if not threads:
            threads.append(pay_in_thread(desk, outsider, results))
            threads[0].join(timeout=1)  # waiting for the debtor's lock by now

    real_create = batch_orders.payments_create_for_batch
    real_chunk = execution._execute_chunk

    def recording(batch_id, size):
        chunks.append(real_chunk(batch_id, size))
        return chunks[-1]

    from batches.services import execution as batch_services

    try:
        batch_services.payments_create_for_batch = lambda **kwargs: real_create(
            **{**kwargs, "on_locked": lambda: (kwargs["on_locked"](), start_paying())}
        )
        batch_services._execute_chunk = recording
        services.batch_execute(batch_id=batch.id, chunk_size=2)
    finally:
        batch_services.payments_create_for_batch = real_create
        batch_services._execute_chunk = real_chunk
    threads[0].join(timeout=20)

    assert isinstance(results[0], Payment)
    assert [chunk.contended for chunk in chunks if chunk] == [True, False]


@override_settings(BATCH_CHUNK_LOCK_MS=1)
def test_sized_chunks_pay_every_row_once(desk, monkeypatch):
    batch = executing(desk, 130)
    sizes: list = []
    real = execution._execute_chunk

    def recording(batch_id, size):
        sizes.append(size)
        return real(batch_id, size)

    monkeypatch.setattr(execution, "_execute_chunk", recording)
    monkeypatch.setattr(execution, "FIRST_CHUNK", 60)

    batch = services.batch_execute(batch_id=batch.id)

    assert sizes == [60, 120, 240]  # no one waited: growing chunks, the last one empty
    assert batch.status == Batch.Status.COMPLETED and batch.succeeded_count == 130
    rows = Payment.objects.filter(batch_id=batch.id).values_list("batch_row", flat=True)
    assert sorted(rows) == list(range(1, 131))
    assert_balances_follow_the_entries()
