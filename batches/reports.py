"""A batch's result reports: each row's outcome as CSV and as ISO 20022 pain.002,
and the failed rows alone in the CSV upload format, ready to correct and upload.

All three stream from the database a few thousand rows at a time; every CSV
cell goes through `safe_cell` so a spreadsheet never runs a formula from a file.
"""

from __future__ import annotations

from collections.abc import Iterator

from django.db.models import Sum
from django.utils import timezone

from accounts.ledger import money
from batches.models import Batch, BatchItem
from batches.pain002 import TransactionStatus, write_pain002
from common.csvsafe import csv_lines

RESULT_COLUMNS = [
    "row",
    "creditor_account",
    "creditor_name",
    "amount",
    "currency",
    "reference",
    "end_to_end_id",
    "status",
    "error_code",
    "error_message",
    "payment",
]
UPLOAD_COLUMNS = [
    "creditor_account",
    "amount",
    "currency",
    "reference",
    "creditor_name",
    "end_to_end_id",
]


def _items(batch: Batch, **filters) -> Iterator[BatchItem]:
    return batch.items.filter(**filters).order_by("row").iterator(chunk_size=5000)


def result_csv(batch: Batch) -> Iterator[str]:
    return csv_lines(
        RESULT_COLUMNS,
        (
            (
                item.row,
                item.creditor_account_number,
                item.creditor_name,
                item.amount_shown,
                item.currency,
                item.reference,
                item.end_to_end_id,
                item.status,
                item.error_code,
                item.error_message,
                item.payment_id or "",
            )
            for item in _items(batch)
        ),
    )


def failed_csv(batch: Batch) -> Iterator[str]:
    """The invalid and failed rows, in the upload format, with the amount as it was sent."""
    failed = _items(batch, status__in=[BatchItem.Status.INVALID, BatchItem.Status.FAILED])
    return csv_lines(
        UPLOAD_COLUMNS,
        (
            (
                item.creditor_account_number,
                item.amount_text,
                item.currency,
                item.reference,
                item.creditor_name,
                item.end_to_end_id,
            )
            for item in failed
        ),
    )


def group_status(batch: Batch) -> str:
    if batch.status == Batch.Status.INVALID:
        return "RJCT"
    if not batch.is_final:
        return "PDNG"
    if batch.succeeded_count == batch.item_count and batch.item_count:
        return "ACSC"
    return "PART" if batch.succeeded_count else "RJCT"


def _transaction_statuses(batch: Batch) -> Iterator[TransactionStatus]:
    for item in _items(batch):
        paid = item.status == BatchItem.Status.PAID
        pending = item.status == BatchItem.Status.VALID and not batch.is_final
        settled = paid or pending
        yield TransactionStatus(
            end_to_end_id=item.end_to_end_id or "NOTPROVIDED",
            instruction_id=str(item.row),
            status="ACSC" if paid else "PDNG" if pending else "RJCT",
            reason_code="" if settled else (item.error_code or "NARR"),
            reason_text="" if settled else item.error_message or _not_paid_reason(batch),
            amount=item.amount_shown if item.amount is not None else "",
            currency=item.currency if item.amount is not None else "",
            creditor_account=item.creditor_account_number,
            reference=item.reference,
            payment_information_id=item.payment_information_id,
        )


def _not_paid_reason(batch: Batch) -> str:
    return f"not paid: the batch is {batch.get_status_display().lower()}"


def write_result_xml(batch: Batch, out) -> None:
    total = batch.items.aggregate(total=Sum("amount"))["total"] if batch.currency else None
    write_pain002(
        out,
        message_id=f"STS-{batch.id.hex[:20]}",
        created_at=timezone.now(),
        original_message_id=batch.message_id or batch.id.hex[:35],
        original_message_name=batch.format or "CSV",
        group_status=group_status(batch),
        group_reason_code=batch.error_code if batch.status == Batch.Status.INVALID else "",
        group_reason_text=batch.error_message if batch.status == Batch.Status.INVALID else "",
        original_count=batch.item_count,
        original_control_sum=money.to_major(total, batch.currency) if total else None,
        transactions=_transaction_statuses(batch),
    )
