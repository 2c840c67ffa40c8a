"""Real concurrency on PostgreSQL: threads racing on the same accounts."""

from __future__ import annotations

import threading
from collections import Counter

import pytest
from django.db import IntegrityError, connections, transaction

from accounts.ledger import posting
from accounts.ledger.errors import InsufficientFunds
from accounts.ledger.selectors import ledger_verify
from accounts.models import Account, LedgerEntry, LedgerTransaction
from tests.factories import AccountFactory, fund

pytestmark = pytest.mark.django_db(transaction=True)


def run_in_threads(count: int, work) -> list:
    """Start `count` threads at once on a barrier; return each one's outcome."""
    barrier = threading.Barrier(count)
    outcomes: list = [None] * count

    def target(index: int) -> None:
        try:
            barrier.wait(timeout=30)
            outcomes[index] = work(index)
        except Exception as error:  # noqa: BLE001 - the outcome is what we assert on
            outcomes[index] = error
        finally:
            connections.close_all()

    threads = [threading.Thread(target=target, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    return outcomes


def test_twenty_racing_transfers_with_funds_for_ten_post_exactly_ten():
    # given an account with funds for exactly 10 transfers of 10.00
    debtor = AccountFactory(currency="EUR")
    fund(debtor, 10 * 1000)
    creditors = [AccountFactory(currency="EUR") for _ in range(20)]

    # when 20 threads each try to move 10.00 at the same moment
    outcomes = run_in_threads(
        20,
        lambda i: posting.transfer(
            debtor_id=debtor.id, creditor_id=creditors[i].id, amount=1000, currency="EUR"
        ),
    )

    # then exactly 10 are posted, 10 refused for funds, and nothing is lost
    kinds = Counter(type(outcome).__name__ for outcome in outcomes)
    assert kinds == {"LedgerTransaction": 10, "InsufficientFunds": 10}
    debtor.refresh_from_db()
    assert debtor.balance == 0
    assert (
        sum(
            Account.objects.filter(pk__in=[c.pk for c in creditors]).values_list(
                "balance", flat=True
            )
        )
        == 10_000
    )
    assert LedgerTransaction.objects.filter(kind=LedgerTransaction.Kind.TRANSFER).count() == 10
    assert ledger_verify()["ok"] is True


def test_opposite_transfers_between_two_accounts_never_deadlock():
    a = AccountFactory(currency="EUR")
    b = AccountFactory(currency="EUR")
    fund(a, 1_000_000)
    fund(b, 1_000_000)

    def work(index: int):
        results = []
        for _ in range(15):
            debtor, creditor = (a, b) if index % 2 == 0 else (b, a)
            results.append(
                posting.transfer(
                    debtor_id=debtor.id, creditor_id=creditor.id, amount=100, currency="EUR"
                )
            )
        return results

    outcomes = run_in_threads(8, work)

    errors = [outcome for outcome in outcomes if isinstance(outcome, Exception)]
    assert errors == []
    a.refresh_from_db()
    b.refresh_from_db()
    assert a.balance + b.balance == 2_000_000
    assert a.balance == b.balance == 1_000_000  # as many moves each way
    assert ledger_verify()["ok"] is True


def test_racing_holds_never_overcommit_an_account():
    account = AccountFactory(currency="EUR")
    fund(account, 5 * 700)

    outcomes = run_in_threads(
        12, lambda i: posting.place_hold(account_id=account.id, amount=700, currency="EUR")
    )

    assert sum(1 for outcome in outcomes if isinstance(outcome, InsufficientFunds)) == 7
    account.refresh_from_db()
    assert (account.balance, account.held, account.available) == (3500, 3500, 0)
    assert ledger_verify()["ok"] is True


def test_an_unbalanced_posting_cannot_commit():
    # The trigger checks every transaction its INSERT statement touched.
    account = AccountFactory(currency="EUR")
    with pytest.raises(IntegrityError, match="does not balance"):
        with transaction.atomic():
            txn = LedgerTransaction.objects.create(kind="transfer", currency="EUR", amount=100)
            LedgerEntry.objects.create(
                transaction=txn, account=account, amount=100, currency="EUR", balance_after=100
            )
    assert LedgerTransaction.objects.count() == 0


def test_a_leg_added_later_to_a_balanced_transaction_cannot_commit():
    # given a balanced transaction already in the ledger
    debtor, creditor = AccountFactory(currency="EUR"), AccountFactory(currency="EUR")
    txn = LedgerTransaction.objects.create(kind="transfer", currency="EUR", amount=100)
    LedgerEntry.objects.bulk_create(
        [
            LedgerEntry(
                transaction=txn, account=debtor, amount=-100, currency="EUR", balance_after=0
            ),
            LedgerEntry(
                transaction=txn, account=creditor, amount=100, currency="EUR", balance_after=100
            ),
        ]
    )
    other = LedgerTransaction.objects.create(kind="transfer", currency="EUR", amount=5)
    # when one statement writes a balanced transaction and one more leg for the old one
    with pytest.raises(IntegrityError, match=f"ledger transaction {txn.pk} does not balance"):
        with transaction.atomic():
            LedgerEntry.objects.bulk_create(
                [
                    LedgerEntry(
                        transaction=other,
                        account=debtor,
                        amount=-5,
                        currency="EUR",
                        balance_after=0,
                    ),
                    LedgerEntry(
                        transaction=other,
                        account=creditor,
                        amount=5,
                        currency="EUR",
                        balance_after=0,
                    ),
                    LedgerEntry(
                        transaction=txn, account=creditor, amount=7, currency="EUR", balance_after=0
                    ),
                ]
            )
    # then nothing of that statement is written
    assert LedgerEntry.objects.filter(transaction=other).count() == 0
    assert LedgerEntry.objects.filter(transaction=txn).count() == 2


def test_two_clerks_opening_one_account_number_at_once_get_one_account_and_a_clear_refusal():
    from accounts.identity.audit import Actor
    from accounts.ledger.errors import InvalidState
    from accounts.ledger.services import account_open

    outcomes = run_in_threads(
        6,
        lambda i: account_open(currency="EUR", number="RACE0001", actor=Actor.system("clerk")),
    )

    assert sum(1 for outcome in outcomes if isinstance(outcome, Account)) == 1
    refusals = [outcome for outcome in outcomes if not isinstance(outcome, Account)]
    assert len(refusals) == 5
    assert all(isinstance(refusal, InvalidState) for refusal in refusals), refusals
    assert Account.objects.filter(number="RACE0001").count() == 1
