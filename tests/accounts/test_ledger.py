"""The ledger: postings, holds, reversals, and what it refuses."""

from __future__ import annotations

import pytest
from django.db import IntegrityError, transaction
from django.db.utils import DatabaseError

from accounts.ledger import posting
from accounts.ledger.errors import (
    AccountClosed,
    AccountFrozen,
    CurrencyMismatch,
    InsufficientFunds,
    InvalidAmount,
    InvalidState,
    LedgerError,
    SameAccount,
    UnknownCurrency,
)
from accounts.ledger.selectors import ledger_verify
from accounts.models import Account, Hold, LedgerEntry, LedgerTransaction
from tests.factories import AccountFactory, fund

pytestmark = pytest.mark.django_db


def snapshot() -> tuple:
    return (
        LedgerTransaction.objects.count(),
        LedgerEntry.objects.count(),
        Hold.objects.count(),
        tuple(Account.objects.order_by("number").values_list("number", "balance", "held")),
    )


def test_transfer_moves_money_with_balanced_entries(funded_account):
    creditor = AccountFactory(currency="EUR")

    txn = posting.transfer(
        debtor_id=funded_account.id,
        creditor_id=creditor.id,
        amount=2550,
        currency="EUR",
        reference="inv-1",
    )

    funded_account.refresh_from_db()
    creditor.refresh_from_db()
    assert funded_account.balance == 100_000 - 2550
    assert creditor.balance == 2550
    entries = {e.account_id: e for e in txn.entries.all()}
    assert sum(e.amount for e in entries.values()) == 0
    assert entries[funded_account.id].amount == -2550
    assert entries[funded_account.id].balance_after == 97_450
    assert entries[creditor.id].balance_after == 2550
    assert txn.amount == 2550 and txn.reference == "inv-1"
    assert ledger_verify()["ok"] is True


def test_transfer_of_the_whole_available_balance_is_allowed(funded_account):
    creditor = AccountFactory(currency="EUR")
    posting.transfer(
        debtor_id=funded_account.id, creditor_id=creditor.id, amount=100_000, currency="EUR"
    )
    funded_account.refresh_from_db()
    assert funded_account.balance == 0


@pytest.mark.parametrize(
    ("change", "error"),
    [
        (dict(amount=100_001), InsufficientFunds),
        (dict(amount=0), InvalidAmount),
        (dict(amount=-5), InvalidAmount),
        (dict(currency="XYZ"), UnknownCurrency),
        (dict(currency="USD"), CurrencyMismatch),
        (dict(same=True), SameAccount),
    ],
)
def test_bad_transfers_are_refused_and_change_nothing(funded_account, change, error):
    creditor = AccountFactory(currency="EUR")
    before = snapshot()
    kwargs = dict(debtor_id=funded_account.id, creditor_id=creditor.id, amount=100, currency="EUR")
    if change.pop("same", False):
        kwargs["creditor_id"] = funded_account.id
    kwargs.update(change)

    with pytest.raises(error):
        posting.transfer(**kwargs)

    assert snapshot() == before


def test_creditor_in_another_currency_is_refused(funded_account):
    creditor = AccountFactory(currency="USD")
    before = snapshot()
    with pytest.raises(CurrencyMismatch):
        posting.transfer(
            debtor_id=funded_account.id, creditor_id=creditor.id, amount=100, currency="EUR"
        )
    assert snapshot() == before


@pytest.mark.parametrize(
    ("side", "status", "error"),
    [
        ("debtor", Account.Status.FROZEN, AccountFrozen),
        ("creditor", Account.Status.FROZEN, AccountFrozen),
        ("debtor", Account.Status.CLOSED, AccountClosed),
        ("creditor", Account.Status.CLOSED, AccountClosed),
    ],
)
def test_frozen_or_closed_accounts_neither_send_nor_receive(funded_account, side, status, error):
    creditor = AccountFactory(currency="EUR")
    target = funded_account if side == "debtor" else creditor
    Account.objects.filter(pk=target.pk).update(status=status)
    before = snapshot()

    with pytest.raises(error):
        posting.transfer(
            debtor_id=funded_account.id, creditor_id=creditor.id, amount=100, currency="EUR"
        )

    assert snapshot() == before


def test_hold_reduces_available_not_balance_and_release_gives_it_back(funded_account):
    hold = posting.place_hold(account_id=funded_account.id, amount=30_000, currency="EUR")
    funded_account.refresh_from_db()
    assert (funded_account.balance, funded_account.held, funded_account.available) == (
        100_000,
        30_000,
        70_000,
    )

    posting.release_hold(hold_id=hold.id)

    funded_account.refresh_from_db()
    hold.refresh_from_db()
    assert (funded_account.balance, funded_account.held) == (100_000, 0)
    assert hold.status == Hold.Status.RELEASED
    assert ledger_verify()["ok"] is True


def test_hold_beyond_available_is_refused(funded_account):
    posting.place_hold(account_id=funded_account.id, amount=60_000, currency="EUR")
    with pytest.raises(InsufficientFunds):
        posting.place_hold(account_id=funded_account.id, amount=40_001, currency="EUR")
    creditor = AccountFactory(currency="EUR")
    with pytest.raises(InsufficientFunds):
        posting.transfer(
            debtor_id=funded_account.id, creditor_id=creditor.id, amount=40_001, currency="EUR"
        )


def test_partial_capture_posts_the_amount_and_releases_the_rest(funded_account):
    creditor = AccountFactory(currency="EUR")
    hold = posting.place_hold(account_id=funded_account.id, amount=30_000, currency="EUR")

    txn = posting.capture_hold(hold_id=hold.id, creditor_id=creditor.id, amount=12_000)

    funded_account.refresh_from_db()
    creditor.refresh_from_db()
    hold.refresh_from_db()
    assert (funded_account.balance, funded_account.held) == (88_000, 0)
    assert creditor.balance == 12_000
    assert hold.status == Hold.Status.CAPTURED and hold.captured_amount == 12_000
    assert hold.capture_transaction == txn
    assert ledger_verify()["ok"] is True


def test_a_hold_is_captured_or_released_once(funded_account):
    creditor = AccountFactory(currency="EUR")
    hold = posting.place_hold(account_id=funded_account.id, amount=1000, currency="EUR")
    posting.capture_hold(hold_id=hold.id, creditor_id=creditor.id)
    with pytest.raises(InvalidState):
        posting.capture_hold(hold_id=hold.id, creditor_id=creditor.id)
    with pytest.raises(InvalidState):
        posting.release_hold(hold_id=hold.id)
    funded_account.refresh_from_db()
    assert (funded_account.balance, funded_account.held) == (99_000, 0)


def test_capture_more_than_authorized_is_refused(funded_account):
    creditor = AccountFactory(currency="EUR")
    hold = posting.place_hold(account_id=funded_account.id, amount=1000, currency="EUR")
    with pytest.raises(InvalidAmount):
        posting.capture_hold(hold_id=hold.id, creditor_id=creditor.id, amount=1001)
    funded_account.refresh_from_db()
    assert (funded_account.balance, funded_account.held) == (100_000, 1000)


def test_reversal_mirrors_the_original_once(funded_account):
    creditor = AccountFactory(currency="EUR")
    original = posting.transfer(
        debtor_id=funded_account.id, creditor_id=creditor.id, amount=5000, currency="EUR"
    )

    reversal = posting.reverse(transaction_id=original.id)

    funded_account.refresh_from_db()
    creditor.refresh_from_db()
    assert (funded_account.balance, creditor.balance) == (100_000, 0)
    assert reversal.reverses == original
    fund(creditor, 5000)
    with pytest.raises(InvalidState):
        posting.reverse(transaction_id=original.id)
    creditor.refresh_from_db()
    assert creditor.balance == 5000


def test_partial_refund_is_bounded_by_the_original(funded_account):
    creditor = AccountFactory(currency="EUR")
    original = posting.transfer(
        debtor_id=funded_account.id, creditor_id=creditor.id, amount=5000, currency="EUR"
    )
    posting.reverse(transaction_id=original.id, amount=2000, kind=LedgerTransaction.Kind.REFUND)
    with pytest.raises(InvalidAmount):
        posting.reverse(transaction_id=original.id, amount=5001, kind=LedgerTransaction.Kind.REFUND)
    creditor.refresh_from_db()
    assert creditor.balance == 3000


def test_the_database_refuses_a_negative_available_balance(funded_account):
    # A bug that writes a balance directly cannot create money: the CHECK stops it.
    with pytest.raises(IntegrityError), transaction.atomic():
        Account.objects.filter(pk=funded_account.pk).update(balance=-1)


def test_the_database_refuses_overdraft_on_customer_accounts(funded_account):
    with pytest.raises(IntegrityError), transaction.atomic():
        Account.objects.filter(pk=funded_account.pk).update(overdraft_limit=500)


def test_entries_are_append_only(funded_account):
    entry = LedgerEntry.objects.filter(account=funded_account).first()
    with pytest.raises(DatabaseError), transaction.atomic():
        LedgerEntry.objects.filter(pk=entry.pk).update(amount=1)
    with pytest.raises(DatabaseError), transaction.atomic():
        LedgerTransaction.objects.filter(pk=entry.transaction_id).update(amount=1)


def test_verify_ledger_names_an_account_whose_balance_was_tampered_with(funded_account):
    Account.objects.filter(pk=funded_account.pk).update(balance=100_001)

    result = ledger_verify()

    assert result["ok"] is False
    assert [m["account"] for m in result["mismatches"]] == [funded_account.number]
    assert result["mismatches"][0]["entries_sum"] == 100_000


def test_funding_account_may_go_below_zero_but_only_within_its_limit(db):
    account = AccountFactory(currency="JPY")
    fund(account, 5_000)
    source = posting.funding_account("JPY")
    source.refresh_from_db()
    assert source.balance == -5_000
    assert source.overdraft_limit == posting.FUNDING_OVERDRAFT


def test_transfer_many_pays_from_a_hold_and_a_refused_order_gives_its_share_back(funded_account):
    payee = AccountFactory(currency="EUR", merchant=None)
    frozen = AccountFactory(currency="EUR", merchant=None, status=Account.Status.FROZEN)
    hold = posting.place_hold(account_id=funded_account.id, amount=60_000, currency="EUR")

    outcomes = posting.transfer_many(
        [
            posting.TransferOrder(funded_account.id, payee.id, 30_000, "EUR"),
            posting.TransferOrder(funded_account.id, frozen.id, 20_000, "EUR"),
            posting.TransferOrder(funded_account.id, payee.id, 20_000, "EUR"),  # beyond the hold
        ],
        holds={funded_account.id: hold.pk},
    )

    assert isinstance(outcomes[0], int) and isinstance(outcomes[1], LedgerError)
    assert isinstance(outcomes[2], LedgerError)
    hold.refresh_from_db()
    funded_account.refresh_from_db()
    assert (hold.captured_amount, hold.released_amount) == (30_000, 20_000)
    assert (funded_account.balance, funded_account.held) == (70_000, 10_000)
    closed = posting.release_hold(hold_id=hold.pk)
    funded_account.refresh_from_db()
    assert (closed.status, closed.released_amount, funded_account.held) == (
        Hold.Status.CAPTURED,
        30_000,
        0,
    )
    assert ledger_verify()["ok"]
