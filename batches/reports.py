"""A batch's result reports: each row's outcome as CSV and as ISO 20022 pain.002,
and the failed rows alone in the CSV upload format, ready to correct and upload.

All three stream from the database a few thousand rows at a time; every CSV
cell goes through `safe_cell` so a spreadsheet never runs a formula from a file.
"""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal

from django.db import connection
from django.utils import timezone

from batches.fields import ISO_ROW_FIELDS
from batches.models import Batch, BatchItem
from batches.parsers import postal
from common.csvsafe import csv_lines
from iso20022.pain002 import (
    DEFAULT_VERSION,
    BlockStatus,
    OriginalMessage,
    StatusCount,
    TransactionStatus,
    write_pain002,
)

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


# What each column of the CSV upload format means, for the upload page and the sample file.
CSV_COLUMNS = [
    ("creditor_account", True, "the payee's account number at this hub (an IBAN or our number)"),
    ("amount", True, "a decimal in major units with a point, no thousands separator: 1250.00"),
    ("currency", True, "ISO 4217 code; must be the debtor account's currency: EUR"),
    (
        "reference",
        True,
        "remittance text for the payee; the column is required, a cell may be empty",
    ),
    ("creditor_name", False, "the payee's name, shown to the approver"),
    ("end_to_end_id", False, "your id for the payment, echoed in the reports; unique in the file"),
    *postal.CSV_DOCUMENTATION,
]
SAMPLE_ROWS = [
    (
        *("PAYEE0001", "1250.00", "EUR", "Invoice 2026-117", "Initech BV", "E2E-2026-0001"),
        *("Keizersgracht", "126", "1015 CW", "Amsterdam", "NL", "", ""),
    ),
    (
        *("PAYEE0002", "99.90", "EUR", "Refund order 7731", "Jane Doe", "E2E-2026-0002"),
        *("", "", "10115", "Berlin", "DE", "Hauptstrasse 1", "c/o Doe"),
    ),
]


def sample_csv() -> Iterator[str]:
    return csv_lines([*UPLOAD_COLUMNS, *postal.CSV_COLUMNS], SAMPLE_ROWS)


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
    """The invalid and failed rows, in the upload format, with the amount as it was sent
    (and the creditor_* address columns when one of the rows has an address)."""
    statuses = [BatchItem.Status.INVALID, BatchItem.Status.FAILED]
    failed = _items(batch, status__in=statuses)
    addressed = batch.items.filter(status__in=statuses, creditor_address__isnull=False).exists()
    return csv_lines(
        [*UPLOAD_COLUMNS, *(postal.CSV_COLUMNS if addressed else ())],
        (
            (
                item.creditor_account_number,
                item.amount_text,
                item.currency,
                item.reference,
                item.creditor_name,
                item.end_to_end_id,
                *(postal.to_csv(item.creditor_address) if addressed else ()),
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


def _transaction_status(batch: Batch, item_status: str) -> str:
    if item_status == BatchItem.Status.PAID:
        return "ACSC"
    if item_status in (BatchItem.Status.VALID, BatchItem.Status.PENDING) and not batch.is_final:
        return "PDNG"  # not paid yet, or sent to another bank whose answer has not come
    return "RJCT"


def _block_status(batch: Batch, counts: dict[str, StatusCount]) -> str:
    if not batch.is_final:
        return "PDNG"
    if set(counts) == {"ACSC"}:
        return "ACSC"
    return "PART" if "ACSC" in counts else "RJCT"


# The decimal sum of the amounts as the file wrote them, by PmtInf and outcome, in one scan.
# CtrlSum is a plain sum of amounts (ISO 20022), so the file's own text is added as numeric:
# exact, and the same whatever the currencies. Text that is not a decimal adds nothing.
_BLOCK_SUMS = """
    SELECT block, payment_information_id, status, count(*),
           sum(CASE WHEN length(amount_text) <= 40
                     AND amount_text ~ '^[+-]?([0-9]+([.][0-9]*)?|[.][0-9]+)$'
                    THEN amount_text::numeric END)
    FROM batches_batchitem WHERE batch_id = %s
    GROUP BY block, payment_information_id, status
"""


def _summaries(batch: Batch) -> tuple[dict[int | None, BlockStatus], list[StatusCount]]:
    by_block: dict[int | None, dict[str, StatusCount]] = {}
    identifiers: dict[int | None, str] = {}
    with connection.cursor() as cursor:
        cursor.execute(_BLOCK_SUMS, [batch.pk])
        for block, identifier, item_status, count, total in cursor.fetchall():
            status = _transaction_status(batch, item_status)
            # A CSV upload is one block, named like its message: by the batch's id.
            identifiers[block] = identifier if block is not None else batch.id.hex
            counts = by_block.setdefault(block, {})
            _add(counts, status, count, total or Decimal(0))
    group: dict[str, StatusCount] = {}
    blocks = {}
    for block, counts in by_block.items():
        for count in counts.values():
            _add(group, count.status, count.count, count.control_sum)
        blocks[block] = BlockStatus(
            payment_information_id=identifiers[block],
            count=sum(count.count for count in counts.values()),
            control_sum=sum((count.control_sum for count in counts.values()), Decimal(0)),
            status=_block_status(batch, counts),
            per_status=tuple(counts[status] for status in sorted(counts)),
        )
    return blocks, [group[status] for status in sorted(group)]


def _add(counts: dict[str, StatusCount], status: str, count: int, total: Decimal) -> None:
    if status in counts:
        count += counts[status].count
        total += counts[status].control_sum
    counts[status] = StatusCount(status=status, count=count, control_sum=total)


_STATUS_FIELDS = (
    "status",
    "error_code",
    "error_message",
    "end_to_end_id",
    "block",
    "amount_text",
    "currency",
    "execution_date",
    "execution_datetime",
    "reference",
    "debtor_account__number",
    "creditor_name",
    "creditor_account_number",
    "payment_id",
    "creditor_address",
    "verification",
    *ISO_ROW_FIELDS,
)
_ISO_FROM = len(_STATUS_FIELDS) - len(ISO_ROW_FIELDS)


def _transaction_statuses(batch: Batch) -> Iterator[TransactionStatus]:
    default_debtor = batch.debtor_account.number if batch.debtor_account else ""
    # Tuples, not model instances: a 100,000-row report spends its time here.
    rows = batch.items.order_by("row").values_list(*_STATUS_FIELDS)
    for values in rows.iterator(chunk_size=5000):
        (
            item_status, error_code, error_message, end_to_end_id, block, amount_text, currency,
            execution_date, execution_datetime, reference, debtor, creditor_name,
            creditor_account, payment_id, creditor_address, verification,
        ) = values[:_ISO_FROM]  # fmt: skip
        status = _transaction_status(batch, item_status)
        settled = status != "RJCT"
        yield TransactionStatus(
            end_to_end_id=end_to_end_id or "NOTPROVIDED",
            status=status,
            reason_code="" if settled else (error_code or "NARR"),
            reason_text="" if settled else error_message or _not_paid_reason(batch),
            block=block,
            amount=amount_text,
            currency=currency,
            execution_date=execution_date,
            execution_datetime=execution_datetime,
            reference=reference,
            debtor_account=debtor or default_debtor,
            creditor_name=creditor_name,
            creditor_account=creditor_account,
            account_servicer_reference=payment_id.hex if payment_id else "",
            creditor_address=creditor_address,
            additional_info=verification_text(verification),
            **dict(zip(ISO_ROW_FIELDS, values[_ISO_FROM:], strict=True)),
        )


def verification_text(verification: dict | None) -> str:
    """A row's Verification of Payee result as the pain.002's AddtlInf says it."""
    if not verification:
        return ""
    result = verification.get("result", "")
    words = VERIFICATION_WORDS.get(result)
    if words is None:
        return ""
    if result == "CMTC" and verification.get("matched_name"):
        words += f": {verification['matched_name']}"
    return f"VOP {result} {words}"


VERIFICATION_WORDS = {
    "MTCH": "name matches",
    "CMTC": "close match, account holder",
    "NMTC": "name does not match",
    "NOAP": "verification not possible",
}


def _not_paid_reason(batch: Batch) -> str:
    return f"not paid: the batch is {batch.get_status_display().lower()}"


def original_message(batch: Batch, control_sum: Decimal | None) -> OriginalMessage:
    """The original message as the customer's ERP knows it."""
    if batch.format.startswith("pain.001"):
        return OriginalMessage(
            message_id=batch.message_id,
            message_name=batch.format,
            created_at=batch.message_created_at,
            count=batch.declared_count,
            control_sum=batch.declared_control_sum or None,
        )
    # A CSV upload has no message header: the batch stands in for it, and says it is a CSV.
    return OriginalMessage(
        message_id=batch.id.hex,
        message_name="CSV" if batch.format == "csv" else "UNKNOWN",
        created_at=batch.created_at.isoformat(timespec="seconds"),
        count=batch.item_count if batch.status != Batch.Status.INVALID else None,
        control_sum=(
            format(control_sum, "f")
            if control_sum is not None and batch.status != Batch.Status.INVALID
            else None
        ),
    )


def write_result_xml(batch: Batch, out, *, version: str = DEFAULT_VERSION) -> None:
    blocks, per_status = _summaries(batch)
    rejected = batch.status == Batch.Status.INVALID
    write_pain002(
        out,
        version=version,
        message_id=f"STS-{batch.id.hex[:20]}",
        created_at=timezone.now(),
        original=original_message(
            batch, sum((count.control_sum for count in per_status), Decimal(0))
        ),
        group_status=group_status(batch),
        group_reason_code=batch.error_code if rejected else "",
        group_reason_text=batch.error_message if rejected else "",
        group_per_status=per_status,
        blocks=blocks,
        transactions=_transaction_statuses(batch),
    )
