"""Ledger history written in bulk: balanced transactions and holds of past days, for seeding
a database with a year of data (tools/volume.py), through the ledger's own code.

Not for live money: the caller promises that nothing else posts to these accounts while it
writes (a seed of a new database). Balances are carried in Python in time order, each
transaction's legs go in with one COPY (the balanced-transaction trigger checks them as it
checks any posting), and `store_balances` writes the accounts' balance and held at the end,
under their row locks, in ascending key order like every posting.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any
from uuid import UUID

from django.db import transaction
from django.utils import timezone

from accounts.ledger.models import Account, Hold, LedgerEntry, LedgerTransaction
from common.db import bulk, pgsql

TRANSACTION_COLUMNS = [
    "id",
    "kind",
    "currency",
    "amount",
    "reference",
    "description",
    "reverses_id",
    "created_at",
]
ENTRY_COLUMNS = [
    "transaction_id",
    "account_id",
    "amount",
    "currency",
    "balance_after",
    "created_at",
]
HOLD_COLUMNS = [
    "id",
    "account_id",
    "amount",
    "currency",
    "status",
    "captured_amount",
    "released_amount",
    "capture_transaction_id",
    "reference",
    "created_at",
    "closed_at",
]


def _reserve(table: str, count: int) -> list[int]:
    if count <= 0:
        return []
    rows = pgsql.execute(
        "SELECT nextval(pg_get_serial_sequence(%s, 'id')) FROM generate_series(1, %s)",
        [table, count],
    )
    return sorted(row[0] for row in rows)


class History:
    """Past postings of a set of accounts, kept in time order and written chunk by chunk."""

    def __init__(self, accounts: Iterable[Account]):
        self.balance: dict[UUID, int] = {}
        self.held: dict[UUID, int] = {}
        for account in accounts:
            self.balance[account.pk] = account.balance
            self.held[account.pk] = account.held
        self._transactions: list[tuple[Any, ...]] = []
        self._entries: list[tuple[Any, ...]] = []
        self._holds: list[tuple[Any, ...]] = []
        self._transaction_ids: list[int] = []
        self._hold_ids: list[int] = []

    def reserve(self, *, transactions: int = 0, holds: int = 0) -> None:
        """Take ids for the next chunk's transactions and holds at once (one query each)."""
        self._transaction_ids.extend(
            reversed(_reserve(LedgerTransaction._meta.db_table, transactions))
        )
        self._hold_ids.extend(reversed(_reserve(Hold._meta.db_table, holds)))

    def transfer(
        self,
        *,
        kind: str,
        debtor: UUID,
        creditor: UUID,
        amount: int,
        currency: str,
        reference: str,
        description: str,
        at: datetime,
        reverses: int | None = None,
    ) -> int:
        """A balanced transaction of two legs at `at`; its id."""
        if amount <= 0:
            raise ValueError("a ledger transaction moves a positive amount")
        if not self._transaction_ids:
            self.reserve(transactions=1)
        txn_id = self._transaction_ids.pop()
        self._transactions.append(
            (txn_id, kind, currency, amount, reference[:140], description, reverses, at)
        )
        for account_id, leg in ((debtor, -amount), (creditor, amount)):
            balance = self.balance.get(account_id, 0) + leg
            self.balance[account_id] = balance
            self._entries.append((txn_id, account_id, leg, currency, balance, at))
        return txn_id

    def hold(
        self,
        *,
        account: UUID,
        amount: int,
        currency: str,
        reference: str,
        at: datetime,
        closed_at: datetime | None,
    ) -> int:
        """A hold placed at `at`: still active when `closed_at` is None, else released then."""
        if not self._hold_ids:
            self.reserve(holds=1)
        hold_id = self._hold_ids.pop()
        active = closed_at is None
        status = Hold.Status.ACTIVE if active else Hold.Status.RELEASED
        self._holds.append(
            (hold_id, account, amount, currency, status, 0, 0, None, reference, at, closed_at)
        )
        if active:
            self.held[account] = self.held.get(account, 0) + amount
        return hold_id

    def flush(self) -> tuple[int, int]:
        """COPY what was posted since the last flush, in the caller's transaction; how many
        transactions and entries were written."""
        written = (len(self._transactions), len(self._entries))
        bulk.copy(LedgerTransaction, TRANSACTION_COLUMNS, self._transactions)
        bulk.copy(LedgerEntry, ENTRY_COLUMNS, self._entries)
        bulk.copy(Hold, HOLD_COLUMNS, self._holds)
        self._transactions, self._entries, self._holds = [], [], []
        return written

    @transaction.atomic
    def store_balances(self) -> None:
        """The accounts' balance and held as the history left them, under their locks."""
        ids = sorted(self.balance.keys() | self.held.keys())
        list(Account.objects.select_for_update(of=("self",)).filter(pk__in=ids).order_by("pk"))
        now = timezone.now()
        bulk.update(
            Account,
            ["balance", "held", "updated_at"],
            [(pk, self.balance.get(pk, 0), self.held.get(pk, 0), now) for pk in ids],
        )
