"""What an account's statement reads: its booked balances at the period's edges and its entries,
each with what identifies it to the customer (EndToEndId, the batch's MsgId, PmtInfId, InstrId,
the payment), streamed from the database with server-side cursors.

Statements sit above batches (statements -> batches -> payments -> accounts): the ledger knows
nothing of payments, and a statement needs all three.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from django.db.models import Count, Min, Q, Sum

from accounts.ledger.selectors import Balances, Period, PeriodError, balances, period
from accounts.models import Account, LedgerEntry

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
_ITEM = "transaction__payment__batch_items__"
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
    _ITEM + "batch__message_id",
    _ITEM + "payment_information_id",
    _ITEM + "instruction_id",
    _ITEM + "block",
    _ITEM + "uetr",
    _ITEM + "creditor_reference",
    _ITEM + "creditor_reference_type",
    _ITEM + "ultimate_debtor",
    _ITEM + "ultimate_creditor",
    _ITEM + "creditor_name",
)


def _line(row: tuple) -> Line:
    (
        entry_id, amount, currency, balance_after, booked_at, transaction_id, kind, reference,
        description, payment_id, end_to_end_id, batch_id, debtor_number, debtor_name,
        creditor_number, creditor_name, refunded_id, refunded_end_to_end_id,
        refunded_debtor, refunded_creditor, message_id, payment_information_id, instruction_id,
        block, uetr, creditor_reference, creditor_reference_type, ultimate_debtor,
        ultimate_creditor, item_creditor_name,
    ) = row  # fmt: skip
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


def lines(account: Account, span: Period, **filters) -> Iterator[Line]:
    """The period's entries in booking order, a few thousand rows fetched at a time."""
    rows = _entries(account, span).filter(**filters).order_by("id").values_list(*_FIELDS)
    for row in rows.iterator(chunk_size=2000):
        yield _line(row)


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


def block_totals(account: Account, span: Period, batch_id: UUID) -> list[BlockTotal]:
    rows = (
        _entries(account, span)
        .filter(_BATCH_DEBIT, transaction__payment__batch_id=batch_id)
        .values(
            _ITEM + "block",
            _ITEM + "payment_information_id",
            _ITEM + "batch__message_id",
        )
        .annotate(count=Count("id"), total=Sum("amount"))
        .order_by(_ITEM + "block")
    )
    return [
        BlockTotal(
            batch_id=batch_id,
            block=row[_ITEM + "block"],
            payment_information_id=row[_ITEM + "payment_information_id"] or "",
            message_id=row[_ITEM + "batch__message_id"] or "",
            count=row["count"],
            total=-row["total"],
        )
        for row in rows
    ]


def batch_lines(account: Account, span: Period, batch_id: UUID) -> Iterator[Line]:
    """One batch's debits, PmtInf by PmtInf, each in file order."""
    rows = (
        _entries(account, span)
        .filter(_BATCH_DEBIT, transaction__payment__batch_id=batch_id)
        .order_by(_ITEM + "block", "id")
        .values_list(*_FIELDS)
    )
    for row in rows.iterator(chunk_size=2000):
        yield _line(row)


def is_batch_debit(line: Line) -> bool:
    return line.amount < 0 and line.batch_id is not None
