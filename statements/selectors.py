"""What an account's statement reads: its booked balances at the period's edges and its entries,
each with what identifies it to the customer (EndToEndId, the batch's MsgId, PmtInfId, InstrId,
the payment), streamed from the database with server-side cursors.

Statements sit above batches (statements -> batches -> payments -> accounts): the ledger knows
nothing of payments, and a statement needs all three.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from django.db.models import Count, Min, Q, Sum

from accounts.ledger.models import Account, LedgerEntry
from accounts.ledger.selectors import Balances, Period, PeriodError, balances, period
from batches.models import BatchItem

__all__ = ["Balances", "Period", "PeriodError", "balances", "period"]


@dataclass(frozen=True)
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
# batch item fields fetched per chunk by payment id, through the unique index on payment:
# a join in the main query makes PostgreSQL scan the rows when its statistics are stale
# (a 100,000-row batch executed a minute ago).
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
)
_NO_ITEM = ("", "", "", None, "", "", "", "", "", "")


def _line(row: tuple, item: tuple) -> Line:
    (
        entry_id, amount, currency, balance_after, booked_at, transaction_id, kind, reference,
        description, payment_id, end_to_end_id, batch_id, debtor_number, debtor_name,
        creditor_number, creditor_name, refunded_id, refunded_end_to_end_id,
        refunded_debtor, refunded_creditor, _batch_row,
    ) = row  # fmt: skip
    (
        message_id, payment_information_id, instruction_id, block, uetr, creditor_reference,
        creditor_reference_type, ultimate_debtor, ultimate_creditor, item_creditor_name,
    ) = item  # fmt: skip
    credit = amount > 0
    if payment_id is not None:
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
    )


def _entries(account: Account, span: Period):
    return LedgerEntry.objects.filter(
        account=account, created_at__gte=span.start, created_at__lt=span.end
    )


_CHUNK = 2000


def _with_items(rows: Iterator[tuple]) -> Iterator[Line]:
    """Lines from entry rows, a chunk at a time, each with its batch row's fields."""
    chunk: list[tuple] = []
    for row in rows:
        chunk.append(row)
        if len(chunk) == _CHUNK:
            yield from _enriched(chunk)
            chunk = []
    yield from _enriched(chunk)


def _enriched(chunk: list[tuple]) -> Iterator[Line]:
    payments = [row[9] for row in chunk if row[11] is not None]  # payments of a batch
    items: dict[UUID, tuple] = {}
    if payments:
        for values in BatchItem.objects.filter(payment_id__in=payments).values_list(*_ITEM_FIELDS):
            items[values[0]] = values[1:]
    for row in chunk:
        yield _line(row, items.get(row[9], _NO_ITEM))


def lines(account: Account, span: Period, *, except_batches: Iterable[UUID] = ()) -> Iterator[Line]:
    """The period's entries in booking order, a few thousand rows fetched at a time.

    `except_batches`: batches whose debits are read apart (`batch_lines`), left out here.
    """
    entries = _entries(account, span)
    if skipped := list(except_batches):
        entries = entries.exclude(_BATCH_DEBIT & Q(transaction__payment__batch_id__in=skipped))
    rows = entries.order_by("id").values_list(*_FIELDS)
    return _with_items(rows.iterator(chunk_size=_CHUNK))


@dataclass(frozen=True)
class BatchBooking:
    """The debits of one batch on its debtor's account: one booking (BtchBookg)."""

    batch_id: UUID
    first_entry_id: int
    count: int
    total: int  # positive minor units


@dataclass(frozen=True)
class BlockTotal:
    batch_id: UUID
    block: int | None
    payment_information_id: str
    message_id: str
    count: int
    total: int


_BATCH_DEBIT = Q(amount__lt=0, transaction__payment__batch_id__isnull=False)


def batch_bookings(account: Account, span: Period) -> dict[UUID, BatchBooking]:
    rows = (
        _entries(account, span)
        .filter(_BATCH_DEBIT)
        .values("transaction__payment__batch_id")
        .annotate(first=Min("id"), count=Count("id"), total=Sum("amount"))
        .order_by()
    )
    return {
        row["transaction__payment__batch_id"]: BatchBooking(
            batch_id=row["transaction__payment__batch_id"],
            first_entry_id=row["first"],
            count=row["count"],
            total=-row["total"],
        )
        for row in rows
    }


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


def batch_lines(account: Account, span: Period, batch_id: UUID) -> Iterator[Line]:
    """One batch's debits in file order (row by row, so PmtInf by PmtInf).

    The entries and the batch's paid rows are both read in row order and merged, two
    server-side cursors side by side: no lookup per row.
    """
    rows = (
        _entries(account, span)
        .filter(_BATCH_DEBIT, transaction__payment__batch_id=batch_id)
        .order_by("transaction__payment__batch_row")
        .values_list(*_FIELDS)
    )
    items = (
        BatchItem.objects.filter(batch_id=batch_id, status=BatchItem.Status.PAID)
        .order_by("row")
        .values_list("row", *_ITEM_FIELDS)
        .iterator(chunk_size=_CHUNK)
    )
    item = next(items, None)
    for row in rows.iterator(chunk_size=_CHUNK):
        batch_row = row[-1]
        while item is not None and item[0] < batch_row:
            item = next(items, None)
        if item is not None and item[0] == batch_row:
            yield _line(row, item[2:])
        else:
            yield _line(row, _NO_ITEM)


def is_batch_debit(line: Line) -> bool:
    return line.amount < 0 and line.batch_id is not None
