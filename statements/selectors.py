"""What an account's statement reads: its booked balances at the period's edges and its entries,
each with what identifies it to the customer (EndToEndId, the batch's MsgId, PmtInfId, InstrId,
the payment), streamed from the database with server-side cursors.

Statements sit above batches (statements -> batches -> payments -> accounts): the ledger knows
nothing of payments, and a statement needs all three.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from uuid import UUID

from django.db import connection
from django.db.models import Count, Field, Model, Q, Sum

from accounts.ledger.models import Account, LedgerEntry, LedgerTransaction
from accounts.ledger.selectors import Balances, Period, PeriodError, balances, period
from batches.models import Batch, BatchItem
from payments.models import Payment, Refund

__all__ = ["Balances", "Period", "PeriodError", "balances", "period"]


# Slots, not frozen: a frozen dataclass sets each of its 26 fields through
# object.__setattr__, and a statement makes 100,000 of them.
@dataclass(slots=True)
class Line:
    """One ledger entry of the account, with the references it carries."""

    entry_id: int
    amount: int  # signed minor units: a credit is positive
    currency: str
    balance_after: int
    booked_at: datetime
    transaction_id: int
    kind: str
    reference: str
    description: str
    payment_id: UUID | None
    end_to_end_id: str
    batch_id: UUID | None
    counterparty_account: str
    counterparty_name: str
    message_id: str
    payment_information_id: str
    instruction_id: str
    block: int | None
    uetr: str
    creditor_reference: str
    creditor_reference_type: str
    ultimate_debtor: str
    ultimate_creditor: str
    # Postal addresses (iso20022.addresses dicts) of the payment's other party (its debtor on
    # a credit, its creditor on a debit) and of the batch row's ultimate parties.
    counterparty_address: dict | None = None
    ultimate_debtor_address: dict | None = None
    ultimate_creditor_address: dict | None = None


# The row `_line` reads, named as one ORM query over the joined tables would read it; `_rows`
# builds it from one-table reads instead (see below).
_PAYMENT = "transaction__payment__"
_REFUND = "transaction__refund__payment__"
_FIELDS = (
    "id",
    "amount",
    "currency",
    "balance_after",
    "created_at",
    "transaction_id",
    "transaction__kind",
    "transaction__reference",
    "transaction__description",
    _PAYMENT + "id",
    _PAYMENT + "end_to_end_id",
    _PAYMENT + "batch_id",
    _PAYMENT + "debtor_account__number",
    _PAYMENT + "debtor_account__name",
    _PAYMENT + "creditor_account__number",
    _PAYMENT + "creditor_account__name",
    _REFUND + "id",
    _REFUND + "end_to_end_id",
    _REFUND + "debtor_account__number",
    _REFUND + "creditor_account__number",
    _PAYMENT + "batch_row",
)
# batch item fields fetched per chunk by payment id, through the unique index on payment.
_ITEM_FIELDS = (
    "payment_id",
    "batch__message_id",
    "payment_information_id",
    "instruction_id",
    "block",
    "uetr",
    "creditor_reference",
    "creditor_reference_type",
    "ultimate_debtor",
    "ultimate_creditor",
    "creditor_name",
    "ultimate_debtor_address",
    "ultimate_creditor_address",
)
_NO_ITEM = ("", "", "", None, "", "", "", "", "", "", None, None)


def _line(row: tuple, item: tuple) -> Line:
    (
        entry_id, amount, currency, balance_after, booked_at, transaction_id, kind, reference,
        description, payment_id, end_to_end_id, batch_id, debtor_number, debtor_name,
        creditor_number, creditor_name, refunded_id, refunded_end_to_end_id,
        refunded_debtor, refunded_creditor, _batch_row, debtor_address, creditor_address,
    ) = row  # fmt: skip
    (
        message_id, payment_information_id, instruction_id, block, uetr, creditor_reference,
        creditor_reference_type, ultimate_debtor, ultimate_creditor, item_creditor_name,
        ultimate_debtor_address, ultimate_creditor_address,
    ) = item  # fmt: skip
    credit = amount > 0
    counterparty_address = None
    if payment_id is not None:
        counterparty_address = _json(debtor_address if credit else creditor_address)
        counterparty = (debtor_number, debtor_name) if credit else (creditor_number, creditor_name)
        if not credit and item_creditor_name:
            counterparty = (creditor_number, item_creditor_name)
    elif refunded_id is not None:
        # A refund goes back from the creditor to the debtor of its payment.
        counterparty = (refunded_creditor if credit else refunded_debtor, "")
        payment_id, end_to_end_id = refunded_id, refunded_end_to_end_id
    else:
        counterparty = ("", "")
    return Line(
        entry_id=entry_id,
        amount=amount,
        currency=currency,
        balance_after=balance_after,
        booked_at=booked_at,
        transaction_id=transaction_id,
        kind=kind,
        reference=reference,
        description=description,
        payment_id=payment_id,
        end_to_end_id=end_to_end_id or "",
        batch_id=batch_id,
        counterparty_account=counterparty[0] or "",
        counterparty_name=counterparty[1] or "",
        message_id=message_id or "",
        payment_information_id=payment_information_id or "",
        instruction_id=instruction_id or "",
        block=block,
        uetr=uetr or "",
        creditor_reference=creditor_reference or "",
        creditor_reference_type=creditor_reference_type or "",
        ultimate_debtor=ultimate_debtor or "",
        ultimate_creditor=ultimate_creditor or "",
        counterparty_address=counterparty_address,
        ultimate_debtor_address=_json(ultimate_debtor_address),
        ultimate_creditor_address=_json(ultimate_creditor_address),
    )


def _json(value: Any) -> dict | None:
    """A jsonb column as a raw cursor reads it (text), or as the ORM did (a dict)."""
    if value is None or isinstance(value, dict):
        return value
    loaded = json.loads(value)
    return loaded if isinstance(loaded, dict) else None


def _entries(account: Account, span: Period):
    return LedgerEntry.objects.filter(
        account=account, created_at__gte=span.start, created_at__lt=span.end
    )


_CHUNK = 2000
_ENTRY_FIELDS = ("id", "amount", "currency", "balance_after", "created_at", "transaction_id")

# Every read below is of one table: the account's entries by its index, then per chunk of
# entries the rows they point to by primary key or a unique index (a batch booking's lines
# alone are one statement, of fenced probes by key: `_BATCH_LINES_SQL`). A join of these
# tables in one statement is planned from their statistics, and a batch execution that
# wrote 100,000 payments a minute ago leaves none (autovacuum may be off, or not yet
# round): PostgreSQL then loops over the batch's payments for each of its entries (hours
# at 100,000 rows). Reads by unique keys have no such plan.


def _entry_rows(
    account: Account, span: Period, *, after: int | None = None, limit: int | None = None
) -> Iterator[tuple]:
    """The period's entries of the account in booking order, `_ENTRY_FIELDS` each (those
    after the entry `after`, at most `limit` of them: a page)."""
    entries = _entries(account, span)
    if after is not None:
        entries = entries.filter(id__gt=after)
    rows = entries.order_by("id").values_list(*_ENTRY_FIELDS)
    if limit is not None:
        rows = rows[:limit]
    return rows.iterator(chunk_size=_CHUNK)


def entry_count(account: Account, span: Period, *, up_to: int) -> int:
    """How many entries the period holds, counted no further than `up_to` (by the index)."""
    return _entries(account, span).order_by()[:up_to].count()


def _chunks(rows: Iterable[tuple]) -> Iterator[list[tuple]]:
    chunk: list[tuple] = []
    for row in rows:
        chunk.append(row)
        if len(chunk) == _CHUNK:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


# payment fields by ledger transaction, through the payment's unique ledger_transaction_id
_PAYMENT_FIELDS = (
    "ledger_transaction_id",
    "id",
    "end_to_end_id",
    "batch_id",
    "debtor_account_id",
    "creditor_account_id",
    "batch_row",
    "debtor_address",
    "creditor_address",
)


def _by_key(model: type[Model], key: str, fields: tuple[str, ...], keys: Iterable) -> dict:
    """`fields` of the rows of `model` whose `key` (a primary key or a unique column) is one
    of `keys`, by key: one table, one array parameter (not thousands of IN parameters)."""
    keys = list(keys)
    if not keys:
        return {}
    quote = connection.ops.quote_name

    def column(name: str) -> str:
        field = model._meta.get_field(name)
        assert isinstance(field, Field) and field.column
        return quote(field.column)

    columns = ", ".join(column(name) for name in (key, *fields))
    table = quote(model._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {columns} FROM {table} WHERE {column(key)} = ANY(%s)", [keys])  # noqa: S608 - identifiers from model metadata, quoted; values are parameters
        return {values[0]: values[1:] for values in cursor.fetchall()}


def _payments(transaction_ids: list[int]) -> dict[int, tuple]:
    """(id, end_to_end_id, batch_id, debtor, creditor, batch_row, debtor_address,
    creditor_address) by ledger transaction."""
    return _by_key(Payment, "ledger_transaction", _PAYMENT_FIELDS[1:], transaction_ids)


def _rows(entries: list[tuple], payments: dict[int, tuple]) -> list[tuple]:
    """The entries with their transaction, payment and refund fields: the rows `_line`
    reads (`_FIELDS`), each table read by its primary key or a unique index."""
    transaction_ids = [entry[5] for entry in entries]
    transactions = _by_key(
        LedgerTransaction, "id", ("kind", "reference", "description"), set(transaction_ids)
    )
    # A transaction is a payment's or a refund's: look for refunds of the others only.
    others = {id_ for id_ in transaction_ids if id_ not in payments}
    refunds = {
        transaction_id: values[0]
        for transaction_id, values in _by_key(
            Refund, "ledger_transaction", ("payment",), others
        ).items()
    }
    refunded = _by_key(
        Payment,
        "id",
        ("end_to_end_id", "debtor_account", "creditor_account"),
        set(refunds.values()),
    )
    account_ids = {
        account_id for payment in payments.values() for account_id in (payment[3], payment[4])
    } | {account_id for payment in refunded.values() for account_id in (payment[1], payment[2])}
    account_ids.discard(None)
    accounts = _by_key(Account, "id", ("number", "name"), account_ids)
    rows = []
    for entry in entries:
        transaction_id = entry[5]
        payment = payments.get(transaction_id)
        if payment is not None:
            (
                payment_id, end_to_end_id, batch_id, debtor_id, creditor_id, batch_row,
                debtor_address, creditor_address,
            ) = payment  # fmt: skip
        else:
            payment_id = end_to_end_id = batch_id = debtor_id = creditor_id = batch_row = None
            debtor_address = creditor_address = None
        debtor = accounts.get(debtor_id, (None, None))
        creditor = accounts.get(creditor_id, (None, None))
        refunded_id = refunds.get(transaction_id)
        refunded_fields = refunded.get(refunded_id) if refunded_id is not None else None
        if refunded_fields is not None:
            refunded_end_to_end_id = refunded_fields[0]
            refunded_debtor = accounts.get(refunded_fields[1], (None,))[0]
            refunded_creditor = accounts.get(refunded_fields[2], (None,))[0]
        else:
            refunded_end_to_end_id = refunded_debtor = refunded_creditor = None
        rows.append(
            (
                *entry,
                *transactions[transaction_id],
                payment_id,
                end_to_end_id,
                batch_id,
                *debtor,
                *creditor,
                refunded_id,
                refunded_end_to_end_id,
                refunded_debtor,
                refunded_creditor,
                batch_row,
                debtor_address,
                creditor_address,
            )
        )
    return rows


def _items(rows: list[tuple]) -> dict[UUID, tuple]:
    """The batch rows' fields of the rows' batch payments, by payment."""
    payments = [row[9] for row in rows if row[11] is not None]  # payments of a batch
    items = _by_key(BatchItem, "payment", ("batch", *_ITEM_FIELDS[2:]), payments)
    batches = _by_key(Batch, "id", ("message_id",), {item[0] for item in items.values()})
    return {payment: (batches[item[0]][0], *item[1:]) for payment, item in items.items()}


def _lines(entries: list[tuple]) -> Iterator[Line]:
    rows = _rows(entries, _payments([entry[5] for entry in entries]))
    items = _items(rows)
    for row in rows:
        yield _line(row, items.get(row[9], _NO_ITEM))


def lines(
    account: Account,
    span: Period,
    *,
    except_entries: Collection[int] = (),
    after: int | None = None,
    limit: int | None = None,
) -> Iterator[Line]:
    """The period's entries in booking order, a few thousand rows fetched at a time.

    `except_entries`: the entries read apart (a batch booking's, `batch_lines`), left out.
    `after`, `limit`: a page (the JSON statement's), entries after that entry id.
    """
    if not except_entries:
        for entries in _chunks(_entry_rows(account, span, after=after, limit=limit)):
            yield from _lines(entries)
        return
    # The batches' debits are most of a day's entries: only their ids are read here.
    ids = _entries(account, span).order_by("id").values_list("id", flat=True)
    for chunk in _chunks(ids.iterator(chunk_size=_CHUNK)):
        kept = [entry_id for entry_id in chunk if entry_id not in except_entries]
        if kept:
            by_id = _by_key(LedgerEntry, "id", _ENTRY_FIELDS[1:], kept)
            yield from _lines([(entry_id, *by_id[entry_id]) for entry_id in kept])


@dataclass
class BatchBooking:
    """The debits of one batch on its debtor's account: one booking (BtchBookg)."""

    batch_id: UUID
    first_entry_id: int
    count: int
    total: int  # positive minor units
    # its debits' entries in the period: `lines` leaves them out (`batch_lines` reads them)
    entry_ids: set[int] = field(default_factory=set, compare=False, repr=False)


@dataclass(frozen=True)
class BlockTotal:
    batch_id: UUID
    block: int | None
    payment_information_id: str
    message_id: str
    count: int
    total: int


def batch_bookings(account: Account, span: Period) -> dict[UUID, BatchBooking]:
    """The period's debits of the account by batch: the account's debits by its index, each
    chunk's batch payments by their unique ledger transaction."""
    bookings: dict[UUID, BatchBooking] = {}
    debits = (
        _entries(account, span)
        .filter(amount__lt=0)
        .order_by("id")
        .values_list("id", "amount", "transaction_id")
        .iterator(chunk_size=_CHUNK)
    )
    for chunk in _chunks(debits):
        batch_of = _by_key(
            Payment, "ledger_transaction", ("batch_id",), [entry[2] for entry in chunk]
        )
        for entry_id, amount, transaction_id in chunk:
            batch_id = batch_of.get(transaction_id, (None,))[0]
            if batch_id is None:
                continue
            booking = bookings.get(batch_id)
            if booking is None:
                booking = bookings[batch_id] = BatchBooking(batch_id, entry_id, 0, 0)
            booking.count += 1
            booking.total -= amount
            booking.entry_ids.add(entry_id)
    return bookings


def block_totals(account: Account, batch_id: UUID) -> list[BlockTotal]:
    """The paid rows of a batch from `account`, by PmtInf (blocks hold consecutive rows)."""
    rows = (
        BatchItem.objects.filter(batch_id=batch_id, status=BatchItem.Status.PAID)
        .filter(
            # A pain.001 row names its debtor; a CSV row pays from the batch's.
            Q(debtor_account=account)
            | Q(debtor_account__isnull=True, batch__debtor_account=account)
        )
        .values("block", "payment_information_id", "batch__message_id")
        .annotate(count=Count("id"), total=Sum("amount"))
        .order_by("block")
    )
    return [
        BlockTotal(
            batch_id=batch_id,
            block=row["block"],
            payment_information_id=row["payment_information_id"] or "",
            message_id=row["batch__message_id"] or "",
            count=row["count"],
            total=row["total"],
        )
        for row in rows
    ]


# One batch's debits on its account, in file order, with everything a TxDtls says. Each
# lateral subquery is fenced (OFFSET 0) and names one key only, so that it stays a probe of
# one unique or indexed key per payment whatever the tables' statistics say (the other
# conditions are checked outside the fence): the planner cannot turn it into the join it
# would misjudge on tables a batch execution has just grown.
_BATCH_LINES_SQL = """
SELECT e.id, e.amount, e.currency, e.balance_after, e.created_at, e.transaction_id,
       t.kind, t.reference, t.description,
       p.id, p.end_to_end_id, p.batch_id, d.number, d.name, c.number, c.name,
       NULL, NULL, NULL, NULL, p.batch_row, p.debtor_address, p.creditor_address,
       i.payment_information_id, i.instruction_id, i.block, i.uetr, i.creditor_reference,
       i.creditor_reference_type, i.ultimate_debtor, i.ultimate_creditor, i.creditor_name,
       i.ultimate_debtor_address, i.ultimate_creditor_address, i.found
  FROM payments_payment AS p
  CROSS JOIN LATERAL (
       SELECT id, amount, currency, balance_after, created_at, transaction_id, account_id
         FROM accounts_ledgerentry WHERE transaction_id = p.ledger_transaction_id
       OFFSET 0) AS e
  CROSS JOIN LATERAL (
       SELECT kind, reference, description FROM accounts_ledgertransaction
        WHERE id = p.ledger_transaction_id OFFSET 0) AS t
  LEFT JOIN LATERAL (
       SELECT number, name FROM accounts_account WHERE id = p.debtor_account_id OFFSET 0
       ) AS d ON true
  LEFT JOIN LATERAL (
       SELECT number, name FROM accounts_account WHERE id = p.creditor_account_id OFFSET 0
       ) AS c ON true
  LEFT JOIN LATERAL (
       SELECT payment_information_id, instruction_id, block, uetr, creditor_reference,
              creditor_reference_type, ultimate_debtor, ultimate_creditor, creditor_name,
              ultimate_debtor_address, ultimate_creditor_address,
              true AS found, batch_id, "row", status
         FROM batches_batchitem WHERE payment_id = p.id
       OFFSET 0) AS i ON i.batch_id = p.batch_id AND i."row" = p.batch_row AND i.status = 'paid'
 WHERE p.batch_id = %(batch)s
   AND e.account_id = %(account)s AND e.amount < 0
   AND e.created_at >= %(start)s AND e.created_at < %(end)s
 ORDER BY p.batch_row
"""


def batch_lines(account: Account, span: Period, booking: BatchBooking) -> Iterator[Line]:
    """One batch's debits in file order (row by row, so PmtInf by PmtInf), streamed from a
    server-side cursor: the batch's payments by their (batch, row) index, and for each its
    entry, transaction, accounts and batch row by their keys (`_BATCH_LINES_SQL`)."""
    message_id = Batch.objects.values_list("message_id", flat=True).get(pk=booking.batch_id)
    params: dict[str, Any] = {
        "account": account.pk,
        "batch": booking.batch_id,
        "start": span.start,
        "end": span.end,
    }
    with connection.chunked_cursor() as cursor:
        cursor.execute(_BATCH_LINES_SQL, params)
        while rows := cursor.fetchmany(_CHUNK):
            for row in rows:
                item = (message_id or "", *row[23:34]) if row[34] else _NO_ITEM
                yield _line(row[:23], item)


def is_batch_debit(line: Line) -> bool:
    return line.amount < 0 and line.batch_id is not None
