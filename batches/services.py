"""Every state change of a batch: upload, validate, approve, reject, cancel, execute.

Validation and execution run in RQ workers (batches/jobs.py) and are safe to
run again after a crash: validation starts over, execution continues with the
rows that are still unpaid, in chunks of one database transaction each.
"""

from __future__ import annotations

import hashlib
import heapq
import logging
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any, BinaryIO, cast
from uuid import UUID

import structlog
from django.conf import settings
from django.core.files import File
from django.core.mail import send_mail
from django.db import DatabaseError, IntegrityError, connection, transaction
from django.db.models import Count, F, Max, Q, Sum
from django.utils import timezone
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts.identity import audit
from accounts.identity.audit import Actor
from accounts.identity.roles import APPROVER, has_role
from accounts.ledger import currency as iso4217
from accounts.ledger import money, posting
from accounts.ledger.errors import (
    InvalidAmount,
    InvalidState,
    LedgerError,
    UnknownCurrency,
    ZeroAmount,
)
from accounts.models import Account, Hold, Merchant, User
from batches import notifications, parsers, selectors
from batches.models import Approval, Batch, BatchHold, BatchItem
from common.db import bulk, pgsql
from outbox import services as outbox
from outbox.models import OutboxJob
from payments import metrics, webhooks
from payments.models import MerchantAPIKey, Payment
from payments.services import BatchPaymentOrder, payments_create_for_batch

ROW_CHUNK = 5000
ANALYZE_FROM_ROWS = 10_000


class BatchError(LedgerError):
    """The batch request is refused."""

    code = "batch_refused"
    status = 400


class NotAllowed(BatchError):
    code = "not_allowed"
    status = 403


class FundsShort(BatchError):
    """The last approval cannot reserve the batch's total: the batch keeps waiting."""

    code = "insufficient_funds"
    reason_code = "AM04"
    status = 409


class CodeRefused(BatchError):
    """The decision's authenticator code is missing, wrong, or was used before."""

    code = "otp_refused"
    status = 403


def _enqueue(verb: str, batch_id: UUID) -> None:
    """Ask for a batch's background work in the current transaction (the outbox): the row
    commits with the batch's new state, so a lost job or a Redis outage only delays it."""
    outbox.schedule(
        key=f"batch.{verb}:{batch_id}",
        job=f"batches.jobs.{verb}_batch",
        args=[str(batch_id)],
        queue="batches",
    )


def _file_sha256(upload: File) -> str:
    digest = hashlib.sha256()
    for chunk in upload.chunks():
        digest.update(chunk)
    upload.seek(0)
    return digest.hexdigest()


# --- upload -------------------------------------------------------------------------------


@transaction.atomic
def batch_upload(
    *,
    merchant: Merchant,
    upload: File,  # an UploadedFile, or a File (manage.py bench_batch)
    debtor_account_number: str = "",
    execution_date: date | None = None,
    actor: Actor,
    uploaded_by: User | None = None,
    api_key: MerchantAPIKey | None = None,
    today: date | None = None,
) -> Batch:
    """Store the file and queue its validation. A file seen before becomes an invalid DUPL batch."""
    today = today or timezone.localdate()
    if upload.size == 0:
        raise BatchError("the file is empty")
    if upload.size > settings.BATCH_MAX_FILE_BYTES:
        raise BatchError(
            f"the file is {upload.size // (1024 * 1024)} MB; the limit is "
            f"{settings.BATCH_MAX_FILE_BYTES // (1024 * 1024)} MB"
        )
    if execution_date is not None and execution_date < today:
        raise BatchError("the execution date is in the past")
    head = upload.read(parsers.base.HEAD_SIZE)
    upload.seek(0)
    is_csv = not parsers.base.looks_like_xml(head)
    debtor = None
    if debtor_account_number:
        debtor = Account.objects.filter(number=debtor_account_number, merchant=merchant).first()
        if debtor is None:
            raise BatchError(f"you have no account {debtor_account_number!r}")
    elif is_csv:
        raise BatchError("a CSV file needs the debtor account it pays from")
    sha256 = _file_sha256(upload)
    batch = Batch(
        merchant=merchant,
        debtor_account=debtor,
        file_name=(upload.name or "upload")[-255:],
        file_size=upload.size,
        file_sha256=sha256,
        execution_date=execution_date,
        uploaded_by=uploaded_by,
        api_key=api_key,
    )
    earlier = (
        Batch.objects.filter(merchant=merchant, file_sha256=sha256)
        .exclude(status__in=Batch.REUSABLE)
        .order_by("created_at")
        .first()
    )
    if earlier is not None:
        batch.duplicate_of = earlier
        _mark_duplicate(batch, f"this file was uploaded before: batch {earlier.pk}")
    batch.file.save(f"{batch.id}.upload", upload, save=False)
    try:
        with transaction.atomic():
            batch.save()
    except IntegrityError:
        # The same file raced in through another request: this copy is the duplicate.
        _mark_duplicate(batch, "this file was uploaded before")
        batch.save()
    structlog.contextvars.bind_contextvars(batch_id=str(batch.id))
    audit.record(
        actor=actor, action="batch.upload", target=batch, file=batch.file_name, sha256=sha256
    )
    if batch.status == Batch.Status.UPLOADED:
        _enqueue("validate", batch.id)
    return batch


def _mark_duplicate(batch: Batch, message: str) -> None:
    batch.status = Batch.Status.INVALID
    batch.error_code = "DUPL"
    batch.error_message = message


# --- validation ---------------------------------------------------------------------------


ITEM_COLUMNS = [
    "batch_id",
    "row",
    "creditor_account_number",
    "creditor_account_id",
    "debtor_account_id",
    "creditor_name",
    "amount_text",
    "amount",
    "currency",
    "reference",
    "end_to_end_id",
    "execution_date",
    "payment_information_id",
    "status",
    "error_code",
    "error_message",
    "execution_datetime",
    "block",
    "instruction_id",
    "uetr",
    "transfer_currency",
    "creditor_reference",
    "creditor_reference_type",
    "creditor_agent_bic",
    "ultimate_debtor",
    "ultimate_creditor",
    "flags",
]


class _Target:
    """What validation needs of an account: a row of values, not a model instance."""

    __slots__ = ("id", "number", "status", "currency")

    def __init__(self, id, number, status, currency):  # noqa: A002 - the column's name
        self.id, self.number, self.status, self.currency = id, number, status, currency


class _Checked:
    __slots__ = ("row", "debtor", "creditor", "amount", "code", "message")

    def __init__(self, row: parsers.ParsedRow):
        self.row = row
        self.debtor: _Target | None = None
        self.creditor: _Target | None = None
        self.amount: int | None = None
        self.code = ""
        self.message = ""

    def values(self, batch_id: UUID, flags: int) -> tuple:
        row = self.row
        return (
            batch_id,
            row.row,
            row.creditor_account,
            self.creditor.id if self.creditor else None,
            self.debtor.id if self.debtor and row.debtor_account else None,
            row.creditor_name,
            row.amount,
            self.amount,
            row.currency,
            row.reference,
            row.end_to_end_id,
            row.execution_date,
            row.payment_information_id,
            BatchItem.Status.INVALID if self.code else BatchItem.Status.VALID,
            self.code,
            self.message[:500],
            _aware(row.execution_datetime),
            row.block,
            row.instruction_id,
            row.uetr,
            row.transfer_currency,
            row.creditor_reference,
            row.creditor_reference_type,
            row.creditor_agent_bic,
            row.ultimate_debtor,
            row.ultimate_creditor,
            flags,
        )


def _aware(moment: datetime | None) -> datetime | None:
    # An ISODateTime without an offset is the sender's local time, which the file does not
    # say; it is kept as UTC, the same convention as the API's time filters.
    if moment is None or moment.tzinfo is not None:
        return moment
    return moment.replace(tzinfo=UTC)


def _targets(**filters) -> dict[str, _Target]:
    """Customer accounts only: a row naming a system account finds no account (AC01)."""
    return {
        number: _Target(id_, number, status, currency)
        for id_, number, status, currency in Account.objects.filter(
            kind=Account.Kind.CUSTOMER, **filters
        ).values_list("id", "number", "status", "currency")
    }


class _RowChecker:
    """Checks rows against the accounts, a chunk at a time (one query per chunk)."""

    def __init__(self, batch: Batch):
        self.batch = batch
        self.seen_end_to_end: set[str] = set()
        self.debtors: dict[str, _Target | None] = {}
        if batch.debtor_account_id:
            account = batch.debtor_account
            assert account is not None  # its id is set
            self.default_debtor: _Target | None = _Target(
                account.id, account.number, account.status, account.currency
            )
        else:
            self.default_debtor = None

    def debtor(self, number: str) -> _Target | None:
        if number not in self.debtors:
            self.debtors[number] = _targets(number=number, merchant=self.batch.merchant).get(number)
        return self.debtors[number]

    def check(self, rows: list[parsers.ParsedRow]) -> list[_Checked]:
        creditors = _targets(number__in={row.creditor_account for row in rows})
        checked = []
        for row in rows:
            item = _Checked(row)
            item.debtor = (
                self.debtor(row.debtor_account) if row.debtor_account else self.default_debtor
            )
            item.creditor = creditors.get(row.creditor_account)
            item.code, item.message = self._problem(item)
            checked.append(item)
        return checked

    def _problem(self, item: _Checked) -> tuple[str, str]:
        row, debtor, creditor = item.row, item.debtor, item.creditor
        if row.problem:
            return "FF01", row.problem
        if debtor is None:
            return "AC01", f"the debtor account {row.debtor_account!r} is not one of yours"
        if not iso4217.is_known(row.currency):
            return "AM03", f"{row.currency!r} is not an ISO 4217 currency"
        if row.transfer_currency and row.transfer_currency != row.currency:
            # EqvtAmt: debit Amt in the debtor's currency, credit it converted to CcyOfTrf.
            # The hub books one currency per payment and converts nothing.
            return "AM03", (
                f"EqvtAmt asks for {row.amount} {row.currency} to be transferred in"
                f" {row.transfer_currency}; this hub does not convert currencies"
            )
        try:
            item.amount = money.to_minor(row.amount, row.currency)
        except ZeroAmount:
            return "AM01", "the amount is zero"
        except (InvalidAmount, UnknownCurrency) as error:
            return "AM02", f"amount {row.amount!r}: {error.detail}"
        end_to_end = row.end_to_end_id
        if end_to_end and end_to_end != "NOTPROVIDED":
            if end_to_end in self.seen_end_to_end:
                return "AM05", f"end_to_end_id {end_to_end!r} repeats an earlier row"
            self.seen_end_to_end.add(end_to_end)
        if row.currency != debtor.currency:
            return "AM03", f"the debtor account holds {debtor.currency}, not {row.currency}"
        if debtor.status == Account.Status.FROZEN:
            return "AC06", f"the debtor account {debtor.number} is frozen"
        if debtor.status == Account.Status.CLOSED:
            return "AC04", f"the debtor account {debtor.number} is closed"
        if creditor is None:
            return "AC01", f"no account has number {row.creditor_account!r}"
        if creditor.status == Account.Status.CLOSED:
            return "AC04", f"the creditor account {creditor.number} is closed"
        if creditor.status == Account.Status.FROZEN:
            return "AC06", f"the creditor account {creditor.number} is frozen"
        if creditor.currency != row.currency:
            return "AM03", f"the creditor account holds {creditor.currency}, not {row.currency}"
        if creditor.id == debtor.id:
            return "AC01", "the creditor account is the debtor account"
        return "", ""


def _reject_file(batch: Batch, code: str, message: str) -> Batch:
    BatchItem.objects.filter(batch=batch).delete()
    batch.status = Batch.Status.INVALID
    batch.error_code = code
    batch.error_message = message[:500]
    batch.item_count = batch.valid_count = batch.invalid_count = 0
    batch.total_amount = 0
    batch.valid_totals = []
    batch.validated_at = timezone.now()
    batch.save()
    return batch


@transaction.atomic
def batch_validate(*, batch_id: UUID) -> Batch:
    """Parse and check the file; rows that fail keep their reason, the rest go on.

    One transaction: a worker killed part-way leaves nothing behind, and the
    job simply runs again.
    """
    structlog.contextvars.bind_contextvars(batch_id=str(batch_id))
    batch = Batch.objects.select_for_update().get(pk=batch_id)
    if batch.status not in (Batch.Status.UPLOADED, Batch.Status.VALIDATING):
        return batch
    BatchItem.objects.filter(batch=batch).delete()
    stored = _Stored(batch)
    try:
        with batch.file.open("rb") as stream:
            # Opened "rb": a binary stream (the stubs type a FieldFile as File[Any]).
            binary = cast(BinaryIO, stream)
            parser = parsers.detect(binary.read(parsers.base.HEAD_SIZE))
            binary.seek(0)
            # Known before the header is read, so a file refused in its GrpHdr is still
            # reported as what it is.
            batch.format = parser.format
            parsed = parser.parse(binary, max_rows=settings.BATCH_MAX_ROWS)
            header = parsed.header
            batch.format = header.format
            batch.message_id = header.message_id[:35]
            batch.message_created_at = header.created_at[:40]
            batch.declared_count = header.declared_count
            batch.declared_control_sum = header.declared_control_sum_text[:40]
            if (
                batch.message_id
                and Batch.objects.filter(merchant=batch.merchant, message_id=batch.message_id)
                .exclude(pk=batch.pk)
                .exclude(status__in=Batch.REUSABLE)
                .exists()
            ):
                batch.duplicate_of = (
                    Batch.objects.filter(merchant=batch.merchant, message_id=batch.message_id)
                    .exclude(pk=batch.pk)
                    .exclude(status__in=Batch.REUSABLE)
                    .order_by("created_at")
                    .first()
                )
                return _reject_file(batch, "DUPL", f"MsgId {batch.message_id!r} was used before")
            chunk: list[parsers.ParsedRow] = []
            for row in parsed:
                chunk.append(row)
                if len(chunk) >= ROW_CHUNK:
                    stored.add(chunk)
                    chunk = []
            if chunk:
                stored.add(chunk)
    except parsers.FileRejected as rejected:
        return _reject_file(batch, rejected.code, rejected.message)
    if stored.items == 0:
        return _reject_file(batch, "FF01", "the file holds no transactions")
    if stored.items >= ANALYZE_FROM_ROWS:
        # As after any bulk load: the planner learns the rows this transaction added (its
        # own rows are sampled too, and the statistics commit with them). Without it, and
        # with no autovacuum to catch up, the batch page sorted all 100,000 rows of the
        # batch for its first page of 100, thinking the batch had 28.
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE batches_batchitem")
    totals = stored.totals
    batch.item_count = stored.items
    batch.valid_count = stored.valid
    batch.invalid_count = stored.items - stored.valid
    batch.currency = next(iter(totals)) if len(totals) == 1 else ""
    batch.total_amount = sum(totals.values()) if len(totals) == 1 else 0
    batch.largest_amount = stored.largest_amount if len(totals) == 1 else 0
    batch.valid_totals = stored.valid_totals()
    latest_date = stored.latest_date
    if batch.execution_date is None or (latest_date and latest_date > batch.execution_date):
        batch.execution_date = latest_date
    # The same payments, whatever the bytes (line endings, BOM, header case, blank lines,
    # 1.0 for 1.00, row order): a second copy of a batch that can still pay is DUPL.
    batch.content_sha256 = hashlib.sha256("\n".join(sorted(stored.canonical)).encode()).hexdigest()
    earlier = (
        Batch.objects.filter(merchant=batch.merchant, content_sha256=batch.content_sha256)
        .exclude(pk=batch.pk)
        .exclude(status__in=Batch.REUSABLE)
        .order_by("created_at")
        .first()
    )
    if earlier is not None:
        batch.duplicate_of = earlier
        return _reject_file(
            batch,
            "DUPL",
            f"the same payments as batch {earlier.file_name} ({earlier.pk}), "
            f"uploaded {timezone.localtime(earlier.created_at):%Y-%m-%d %H:%M}",
        )
    batch.flag_counts = _flag_rows(batch, stored)
    batch.validated_sha256 = stored.approval_digest.hexdigest()
    batch.status = Batch.Status.AWAITING_APPROVAL
    batch.validated_at = timezone.now()
    try:
        with transaction.atomic():
            batch.save()
    except IntegrityError:
        return _reject_file(
            batch, "DUPL", "the same file, MsgId or payments was accepted at the same moment"
        )
    notifications.batch_awaits_approval(batch)
    return batch


def _canonical(item: _Checked) -> str:
    """A row as the payment it asks for, not as the file wrote it."""
    row = item.row
    amount = str(item.amount) if item.amount is not None else row.amount.strip()
    return "|".join(
        (
            row.creditor_account.strip().upper(),
            amount,
            row.currency.strip().upper(),
            row.reference.strip(),
            row.end_to_end_id.strip(),
        )
    )


class _Stored:
    """What validation learns while it stores the rows, a chunk at a time.

    The rows go in by COPY with their new-payee flag already set (one look-up per chunk
    of the debtor/creditor pairs not seen yet), and the largest rows are kept as they
    stream by: no statement has to rewrite the batch's 100,000 rows afterwards.
    """

    def __init__(self, batch: Batch):
        self.checker = _RowChecker(batch)
        self.batch_id = batch.pk
        self.approval_digest = hashlib.sha256(batch.file_sha256.encode())
        self.items = 0
        self.valid = 0
        self.new_payees = 0
        self.totals: dict[str, int] = {}
        # (debtor number, currency) -> [count, total, largest] of the valid rows
        self.by_debtor: dict[tuple[str, str], list[int]] = {}
        self.latest_date: date | None = None
        self.canonical: list[str] = []
        # (amount, -row) of the largest valid rows: a min-heap of BATCH_LARGEST_ROWS.
        self.largest: list[tuple[int, int]] = []
        self.paid_before: dict[tuple[UUID, UUID], bool] = {}  # (debtor, creditor) pairs

    def valid_totals(self) -> list[dict]:
        return [
            {"debtor": debtor, "currency": currency, "count": count, "total": total, "largest": top}
            for (debtor, currency), (count, total, top) in sorted(self.by_debtor.items())
        ]

    @property
    def largest_amount(self) -> int:
        return max(self.largest)[0] if self.largest else 0

    def add(self, chunk: list[parsers.ParsedRow]) -> None:
        checked = self.checker.check(chunk)
        self._learn_pairs(checked)
        keep = settings.BATCH_LARGEST_ROWS
        values = []
        for item in checked:
            self.canonical.append(_canonical(item))
            self.items += 1
            if item.code:
                values.append(item.values(self.batch_id, 0))
                continue
            row = item.row
            amount = cast(int, item.amount)
            debtor, creditor = cast(_Target, item.debtor), cast(_Target, item.creditor)
            self.valid += 1
            self.totals[row.currency] = self.totals.get(row.currency, 0) + amount
            line = self.by_debtor.get((debtor.number, row.currency))
            if line is None:
                self.by_debtor[(debtor.number, row.currency)] = [1, amount, amount]
            else:
                line[0] += 1
                line[1] += amount
                if amount > line[2]:
                    line[2] = amount
            if len(self.largest) < keep:
                heapq.heappush(self.largest, (amount, -row.row))
            elif keep and (amount, -row.row) > self.largest[0]:
                heapq.heapreplace(self.largest, (amount, -row.row))
            flags = 0
            if not self.paid_before[(debtor.id, creditor.id)]:
                flags = BatchItem.FLAG_NEW_PAYEE
                self.new_payees += 1
            values.append(item.values(self.batch_id, flags))
            self.approval_digest.update(
                f"{row.row}|{debtor.id}|{creditor.id}|{amount}|{row.currency}\n".encode()
            )
            if row.execution_date and (
                self.latest_date is None or row.execution_date > self.latest_date
            ):
                self.latest_date = row.execution_date
        bulk.copy(BatchItem, ITEM_COLUMNS, values)

    def _learn_pairs(self, checked: list[_Checked]) -> None:
        """Which of the chunk's new (debtor, creditor) pairs were paid before: one query."""
        pairs = {
            (item.debtor.id, item.creditor.id)
            for item in checked
            if not item.code and item.debtor is not None and item.creditor is not None
        }
        unknown = sorted(pairs - self.paid_before.keys())
        if not unknown:
            return
        # A probe of the (debtor, creditor) index per pair, whatever the statistics say.
        paid = pgsql.execute(
            "SELECT k.debtor, k.creditor FROM unnest(%s::uuid[], %s::uuid[]) AS k(debtor, creditor)"
            " WHERE EXISTS (SELECT 1 FROM payments_payment AS p"
            "  WHERE p.debtor_account_id = k.debtor AND p.creditor_account_id = k.creditor"
            "    AND p.status IN ('completed', 'refunded', 'partially_refunded'))",
            [[debtor for debtor, _ in unknown], [creditor for _, creditor in unknown]],
        )
        self.paid_before.update(dict.fromkeys(unknown, False))
        self.paid_before.update(dict.fromkeys(paid, True))


DUPLICATE_SQL = [
    # The possible duplicates, after the rows are stored (new payees and the largest rows
    # are flagged while they are stored). Each check joins the batch's DISTINCT keys, not
    # its rows, with the other side: a file of 20,000 identical rows against a batch of
    # 20,000 more is one key, not 400,000,000 pairs. The same creditor, amount and
    # reference as a payment of the last days...
    """
    WITH keys AS (
        SELECT DISTINCT creditor_account_id, amount, reference FROM batches_batchitem
         WHERE batch_id = %(batch)s AND status = 'valid' AND reference <> ''
    ), hits AS (
        SELECT DISTINCT ON (k.creditor_account_id, k.amount, k.reference)
               k.creditor_account_id, k.amount, k.reference, p.id AS payment_id
          FROM keys AS k
          JOIN payments_payment AS p
            ON p.creditor_account_id = k.creditor_account_id AND p.amount = k.amount
           AND p.reference = left(k.reference, 140)
         WHERE p.merchant_id = %(merchant)s AND p.created_at >= %(since)s
           AND p.status <> 'failed'
         ORDER BY k.creditor_account_id, k.amount, k.reference, p.created_at DESC
    )
    UPDATE batches_batchitem AS i
       SET flags = i.flags | %(duplicate)s, duplicate_of_payment_id = h.payment_id
      FROM hits AS h
     WHERE i.batch_id = %(batch)s AND i.status = 'valid'
       AND i.creditor_account_id = h.creditor_account_id AND i.amount = h.amount
       AND i.reference = h.reference
    """,
    # ...or its end-to-end id
    """
    WITH keys AS (
        SELECT DISTINCT left(end_to_end_id, 35) AS end_to_end_id FROM batches_batchitem
         WHERE batch_id = %(batch)s AND status = 'valid' AND end_to_end_id <> ''
    ), hits AS (
        SELECT DISTINCT ON (k.end_to_end_id) k.end_to_end_id, p.id AS payment_id
          FROM keys AS k
          JOIN payments_payment AS p ON p.end_to_end_id = k.end_to_end_id
         WHERE p.merchant_id = %(merchant)s AND p.created_at >= %(since)s
           AND p.status <> 'failed'
         ORDER BY k.end_to_end_id, p.created_at DESC
    )
    UPDATE batches_batchitem AS i
       SET flags = i.flags | %(duplicate)s, duplicate_of_payment_id = h.payment_id
      FROM hits AS h
     WHERE i.batch_id = %(batch)s AND i.status = 'valid'
       AND left(i.end_to_end_id, 35) = h.end_to_end_id AND i.duplicate_of_payment_id IS NULL
    """,
    # ...or a row of another batch of the last days that is still to be paid
    """
    WITH pending AS (
        SELECT id FROM batches_batch
         WHERE merchant_id = %(merchant)s AND id <> %(batch)s AND created_at >= %(since)s
           AND status IN ('awaiting_approval', 'approved', 'scheduled', 'executing')
    ), keys AS (
        SELECT DISTINCT creditor_account_id, amount, reference FROM batches_batchitem
         WHERE batch_id = %(batch)s AND status = 'valid' AND reference <> ''
    ), hits AS (
        SELECT DISTINCT ON (k.creditor_account_id, k.amount, k.reference)
               k.creditor_account_id, k.amount, k.reference, o.batch_id
          FROM keys AS k
          JOIN batches_batchitem AS o
            ON o.creditor_account_id = k.creditor_account_id AND o.amount = k.amount
           AND o.reference = k.reference
         WHERE o.batch_id IN (SELECT id FROM pending) AND o.status = 'valid'
         ORDER BY k.creditor_account_id, k.amount, k.reference, o.batch_id
    )
    UPDATE batches_batchitem AS i
       SET flags = i.flags | %(duplicate)s, duplicate_of_batch_id = h.batch_id
      FROM hits AS h
     WHERE i.batch_id = %(batch)s AND i.status = 'valid'
       AND i.creditor_account_id = h.creditor_account_id AND i.amount = h.amount
       AND i.reference = h.reference AND i.duplicate_of_payment_id IS NULL
    """,
    """
    WITH pending AS (
        SELECT id FROM batches_batch
         WHERE merchant_id = %(merchant)s AND id <> %(batch)s AND created_at >= %(since)s
           AND status IN ('awaiting_approval', 'approved', 'scheduled', 'executing')
    ), keys AS (
        SELECT DISTINCT end_to_end_id FROM batches_batchitem
         WHERE batch_id = %(batch)s AND status = 'valid' AND end_to_end_id <> ''
    ), hits AS (
        SELECT DISTINCT ON (k.end_to_end_id) k.end_to_end_id, o.batch_id
          FROM keys AS k
          JOIN batches_batchitem AS o ON o.end_to_end_id = k.end_to_end_id
         WHERE o.batch_id IN (SELECT id FROM pending) AND o.status = 'valid'
         ORDER BY k.end_to_end_id, o.batch_id
    )
    UPDATE batches_batchitem AS i
       SET flags = i.flags | %(duplicate)s, duplicate_of_batch_id = h.batch_id
      FROM hits AS h
     WHERE i.batch_id = %(batch)s AND i.status = 'valid' AND i.end_to_end_id = h.end_to_end_id
       AND i.duplicate_of_payment_id IS NULL AND i.duplicate_of_batch_id IS NULL
    """,
]


def _flag_rows(batch: Batch, stored: _Stored, *, now: datetime | None = None) -> dict[str, int]:
    """Flag the largest rows and the possible duplicates; the count of each flag.

    Set-based, after the rows are stored: the few largest rows by their (batch, row) key,
    then one statement per duplicate check, hash joins against the merchant's payments and
    pending batches of the last BATCH_DUPLICATE_DAYS. The checks are disjoint (each skips
    rows an earlier one linked), so their row counts add up to the duplicates.
    """
    since = (now or timezone.now()) - timedelta(days=settings.BATCH_DUPLICATE_DAYS)
    params: dict[str, Any] = {
        "batch": batch.pk,
        "merchant": batch.merchant_id,
        "since": since,
        "duplicate": BatchItem.FLAG_DUPLICATE,
    }
    pending = (
        Batch.objects.filter(
            merchant_id=batch.merchant_id,
            created_at__gte=since,
            status__in=[
                Batch.Status.AWAITING_APPROVAL,
                Batch.Status.APPROVED,
                Batch.Status.SCHEDULED,
                Batch.Status.EXECUTING,
            ],
        )
        .exclude(pk=batch.pk)
        .exists()
    )
    duplicates = 0
    with connection.cursor() as cursor:
        cursor.execute(
            'UPDATE batches_batchitem SET flags = flags | %s WHERE batch_id = %s AND "row" = ANY(%s)',
            [BatchItem.FLAG_LARGEST, batch.pk, [-row for _, row in stored.largest]],
        )
        by_payment_ref, by_payment_e2e, by_batch_ref, by_batch_e2e = DUPLICATE_SQL
        # The rows were inserted in this transaction, so the planner has no statistics
        # on them and would pick nested loops over 100,000 rows: hash joins it is.
        cursor.execute("SET LOCAL enable_nestloop = off")
        for statement in [
            by_payment_ref,
            by_payment_e2e,
            *([by_batch_ref, by_batch_e2e] if pending else []),
        ]:
            cursor.execute(statement, params)
            duplicates += cursor.rowcount
        cursor.execute("SET LOCAL enable_nestloop = on")
    return {
        "new_payee": stored.new_payees,
        "largest": len(stored.largest),
        "duplicate": duplicates,
    }


# --- four eyes ----------------------------------------------------------------------------


def _check_approver(batch: Batch, user: User, now: datetime) -> None:
    # Superuser status is not the approver role: an admin approves only if made an approver.
    if not has_role(user, APPROVER):
        raise NotAllowed("only an approver may approve or reject a batch")
    if batch.uploaded_by_id == user.pk:
        raise NotAllowed("you uploaded this batch: another approver must decide on it")
    barred = User.objects.filter(pk=user.pk).values_list("approval_barred_until", flat=True)[0]
    if barred is not None and barred > now:
        raise NotAllowed(
            "your credentials or roles changed recently: you may not approve or reject "
            f"before {timezone.localtime(barred):%Y-%m-%d %H:%M %Z}"
        )


def _sign(*, user: User, otp_token: str, actor: Actor, batch_id: UUID, decision: str) -> int:
    """Check a fresh code of the user's authenticator; its time step, or CodeRefused.

    Runs in a transaction of its own, committed whatever the decision becomes: a
    wrong code counts towards django-otp's throttle and stays in the trail, and a
    right one is spent (django-otp accepts a step only after the device's last one,
    so a code used at sign-in, or for another decision, is refused).
    """
    with transaction.atomic():
        device = (
            TOTPDevice.objects.select_for_update()
            .filter(user_id=user.pk, confirmed=True)
            .order_by("pk")
            .first()
        )
        refusal = ""
        if device is None:
            refusal = "you have no authenticator: enrol one first"
        elif not device.verify_is_allowed()[0]:
            refusal = "too many wrong codes in a row: wait a little and try again"
        elif not (otp_token or "").strip():
            refusal = "enter the code that your authenticator app shows now"
        elif not device.verify_token(otp_token.strip()):
            refusal = "the authenticator code is wrong or was used before: wait for a new one"
        if not refusal:
            assert device is not None
            return device.last_t
        audit.record(
            actor=actor,
            action="batch.decision_code_refused",
            target=Batch.objects.filter(pk=batch_id).first(),
            decision=decision,
            reason=refusal,
        )
    raise CodeRefused(refusal)


def _decide(
    *,
    batch_id: UUID,
    approver: User,
    decision: str,
    actor: Actor,
    otp_time_step: int,
    reason: str = "",
    now: datetime | None = None,
) -> Batch:
    """Lock the batch, check that this approver may decide now, record the decision."""
    batch = Batch.objects.select_for_update().get(pk=batch_id)
    _check_approver(batch, approver, now or timezone.now())
    if batch.status != Batch.Status.AWAITING_APPROVAL:
        raise InvalidState(
            f"the batch is {batch.get_status_display().lower()}, not awaiting approval"
        )
    if batch.approvals.filter(approver=approver).exists():
        # One decision per approver (a unique constraint too): another approver must decide.
        raise InvalidState("you have already approved this batch: another approver must decide")
    Approval.objects.create(
        batch=batch,
        approver=approver,
        decision=decision,
        reason=reason[:500],
        validated_sha256=batch.validated_sha256,
        otp_time_step=otp_time_step,
        ip=actor.ip,
    )
    return batch


def batch_approve(
    *,
    batch_id: UUID,
    approver: User,
    actor: Actor,
    otp_token: str,
    today: date | None = None,
    now: datetime | None = None,
) -> Batch:
    """One approval, signed with a fresh authenticator code; the last one needed starts it."""
    _check_approver(Batch.objects.get(pk=batch_id), approver, now or timezone.now())
    step = _sign(
        user=approver, otp_token=otp_token, actor=actor, batch_id=batch_id, decision="approve"
    )
    try:
        with transaction.atomic():
            batch = _decide(
                batch_id=batch_id,
                approver=approver,
                decision=Approval.Decision.APPROVE,
                actor=actor,
                otp_time_step=step,
                now=now,
            )
            approvals = batch.approvals.filter(decision=Approval.Decision.APPROVE).count()
            needed = selectors.approvals_required(batch)
            audit.record(
                actor=actor,
                action="batch.approve",
                target=batch,
                approvals=approvals,
                needed=needed,
                validated_sha256=batch.validated_sha256,
                otp_time_step=step,
            )
            if approvals < needed:
                notifications.batch_awaits_approval(batch)  # the approvers still to decide
            else:
                _reserve_funds(batch)
                notifications.batch_decided(batch, decision="approved", by=approver)
                batch.status = Batch.Status.APPROVED
                batch.approved_at = timezone.now()
                batch.save(update_fields=["status", "approved_at", "updated_at"])
                _start_or_schedule(batch, today or timezone.localdate())
            return batch
    except FundsShort as short:
        # The approval is rolled back with the holds; the refusal itself stays on record.
        with transaction.atomic():
            audit.record(
                actor=actor,
                action="batch.approve_refused",
                target=Batch.objects.filter(pk=batch_id).first(),
                reason_code=short.reason_code,
                reason=short.detail,
            )
        raise


def _reserve_funds(batch: Batch) -> list[BatchHold]:
    """Hold each debtor account's share of the valid rows, or refuse them all (AM04).

    One hold per debtor account, placed in ascending account order like every lock of
    the ledger's; a shortfall on any account rolls back the others with the approval.
    """
    shares = (
        batch.items.filter(status=BatchItem.Status.VALID)
        .values_list("debtor_account_id", "currency")
        .annotate(total=Sum("amount"))
        .order_by()
    )
    per_account: dict[UUID, tuple[str, int]] = {}
    for debtor_id, currency, total in shares:
        account_id = cast(UUID, debtor_id or batch.debtor_account_id)  # a valid row has one
        known = per_account.get(account_id, (currency, 0))
        per_account[account_id] = (currency, known[1] + total)
    reserved = []
    for account_id in sorted(per_account):
        currency, total = per_account[account_id]
        try:
            hold = posting.place_hold(
                account_id=account_id,
                amount=total,
                currency=currency,
                reference=f"batch {batch.pk}",
            )
        except LedgerError as refusal:
            number = Account.objects.filter(pk=account_id).values_list("number", flat=True).first()
            short = FundsShort(
                f"{refusal.reason_code}: the batch's {money.to_major(total, currency)} {currency} "
                f"cannot be held on account {number} ({refusal.detail}); the batch waits"
            )
            short.reason_code = refusal.reason_code  # AM04, or AC06 for a frozen account
            raise short from refusal
        reserved.append(BatchHold.objects.create(batch=batch, hold=hold))
    return reserved


def _release_holds(batch: Batch) -> None:
    """Give back what the batch still holds (its end, a rejection, a cancellation)."""
    for hold_id in (
        BatchHold.objects.filter(batch=batch, hold__status=Hold.Status.ACTIVE)
        .order_by("hold__account_id")
        .values_list("hold_id", flat=True)
    ):
        posting.release_hold(hold_id=hold_id)


def _start_or_schedule(batch: Batch, today: date) -> None:
    if batch.execution_date and batch.execution_date > today:
        batch.status = Batch.Status.SCHEDULED
        batch.save(update_fields=["status", "updated_at"])
    else:
        batch.status = Batch.Status.EXECUTING
        batch.save(update_fields=["status", "updated_at"])
        _enqueue("execute", batch.id)


def batch_reject(
    *,
    batch_id: UUID,
    approver: User,
    reason: str,
    actor: Actor,
    otp_token: str,
    now: datetime | None = None,
) -> Batch:
    """An approver says no, with a reason, signed like an approval."""
    reason = reason.strip()
    if not reason:
        raise BatchError("a rejection needs a reason")
    # Who may not decide is told so before any code is checked (and spent); again under lock.
    _check_approver(Batch.objects.get(pk=batch_id), approver, now or timezone.now())
    step = _sign(
        user=approver, otp_token=otp_token, actor=actor, batch_id=batch_id, decision="reject"
    )
    with transaction.atomic():
        batch = _decide(
            batch_id=batch_id,
            approver=approver,
            decision=Approval.Decision.REJECT,
            actor=actor,
            otp_time_step=step,
            reason=reason,
            now=now,
        )
        _release_holds(batch)
        batch.status = Batch.Status.REJECTED
        batch.decision_reason = reason[:500]
        batch.finished_at = timezone.now()
        batch.save(update_fields=["status", "decision_reason", "finished_at", "updated_at"])
        audit.record(
            actor=actor, action="batch.reject", target=batch, reason=reason, otp_time_step=step
        )
        notifications.batch_decided(batch, decision="rejected", by=approver, reason=reason)
        return batch


@transaction.atomic
def batch_cancel(
    *, batch_id: UUID, actor: Actor, user: User | None = None, merchant: Merchant | None = None
) -> Batch:
    """The maker withdraws a batch not yet approved (by the same user, or through the API)."""
    batch = Batch.objects.select_for_update().get(pk=batch_id)
    if user is not None and batch.uploaded_by_id != user.pk:
        raise NotAllowed("only whoever uploaded a batch may cancel it")
    if merchant is not None and batch.merchant_id != merchant.pk:
        raise NotAllowed("not your batch")
    if batch.status not in (
        Batch.Status.UPLOADED,
        Batch.Status.VALIDATING,
        Batch.Status.AWAITING_APPROVAL,
    ):
        raise InvalidState(f"a {batch.get_status_display().lower()} batch cannot be cancelled")
    _release_holds(batch)
    batch.status = Batch.Status.CANCELLED
    batch.finished_at = timezone.now()
    batch.save(update_fields=["status", "finished_at", "updated_at"])
    audit.record(actor=actor, action="batch.cancel", target=batch)
    return batch


# --- execution ----------------------------------------------------------------------------


def batch_start_due(*, today: date | None = None) -> list[UUID]:
    """Scheduled batches whose execution date has come start executing."""
    today = today or timezone.localdate()
    started = []
    for batch_id in Batch.objects.filter(
        status=Batch.Status.SCHEDULED, execution_date__lte=today
    ).values_list("id", flat=True):
        with transaction.atomic():
            batch = Batch.objects.select_for_update().get(pk=batch_id)
            if batch.status == Batch.Status.SCHEDULED:
                _start_or_schedule(batch, today)
                started.append(batch.pk)
    return started


@transaction.atomic
def batch_resume_stalled(*, now: datetime | None = None) -> list[UUID]:
    """Batches waiting for validation or in execution with no pending outbox job ask for
    one again (a batch from before the outbox, or a job that ended early); the outbox's
    sweep then enqueues it. A job whose worker died is the sweep's: its heartbeat stops.

    Running either job twice is safe (the batch row lock serialises them; validation
    starts over, execution skips paid rows), so a false alarm costs a no-op job.
    """
    now = now or timezone.now()
    waiting: dict[str, str] = {
        Batch.Status.UPLOADED: "validate",
        Batch.Status.VALIDATING: "validate",
        Batch.Status.EXECUTING: "execute",
    }
    pending_keys = set(
        OutboxJob.objects.filter(done_at__isnull=True, key__startswith="batch.").values_list(
            "key", flat=True
        )
    )
    resumed = []
    for batch_id, status in Batch.objects.filter(
        status__in=waiting, updated_at__lt=now - timedelta(seconds=60)
    ).values_list("id", "status"):
        verb = waiting[status]
        if f"batch.{verb}:{batch_id}" not in pending_keys:
            _enqueue(verb, batch_id)
            resumed.append(batch_id)
    return resumed


def batch_execute(*, batch_id: UUID, chunk_size: int | None = None) -> Batch:
    """Pay every valid row not yet paid, a chunk per transaction; safe to run again.

    Without `chunk_size`, `_ChunkSizer` sizes each chunk: large while no one waits for the
    accounts a chunk locks, and holding them for about BATCH_CHUNK_LOCK_MS once a real-time
    payment from the batch's debtor account, or into one of its creditors, has to wait.
    """
    structlog.contextvars.bind_contextvars(batch_id=str(batch_id))
    with transaction.atomic():
        batch = Batch.objects.select_for_update().get(pk=batch_id)
        if batch.status not in (Batch.Status.APPROVED, Batch.Status.EXECUTING):
            return batch
        batch.status = Batch.Status.EXECUTING
        batch.started_at = batch.started_at or timezone.now()
        batch.save(update_fields=["status", "started_at", "updated_at"])
    sizer = _ChunkSizer()
    while (done := _execute_chunk(batch_id, chunk_size or sizer.size)) is not None:
        sizer.after(done)
    return _finish(batch_id)


FIRST_CHUNK = 200
SMALLEST_CHUNK = 50
CALM_CHUNKS = 10


@dataclass(frozen=True)
class _ChunkDone:
    locked_seconds: float  # how long the chunk held its accounts' locks, until its commit
    contended: bool  # another transaction was waiting for a lock the chunk held


class _ChunkSizer:
    """How many rows the next chunk pays.

    Alone on its accounts, a batch pays in large chunks (from FIRST_CHUNK, doubling up to
    BATCH_CHUNK_SIZE): fewer commits, fewer account updates, the most rows a second. Once
    a chunk sees another transaction wait for one of its locks, the chunks are sized from
    the last one's pace to hold their locks for about BATCH_CHUNK_LOCK_MS, and stay so
    until CALM_CHUNKS chunks in a row have kept no one waiting.
    """

    def __init__(self) -> None:
        self.size = min(FIRST_CHUNK, settings.BATCH_CHUNK_SIZE)
        self.calm = CALM_CHUNKS

    def after(self, done: _ChunkDone) -> None:
        self.calm = 0 if done.contended else self.calm + 1
        size = 2 * self.size
        if self.calm < CALM_CHUNKS and done.locked_seconds > 0:
            budget = settings.BATCH_CHUNK_LOCK_MS / 1000
            size = min(size, int(self.size * budget / done.locked_seconds))
        self.size = max(SMALLEST_CHUNK, min(settings.BATCH_CHUNK_SIZE, size))


# Asked at the end of a chunk, its locks still held: does a transaction wait for one of them?
# Once a chunk; pg_blocking_pids briefly takes the lock manager's partitions.
CONTENDED_SQL = (
    "SELECT EXISTS (SELECT 1 FROM pg_stat_activity"
    " WHERE wait_event_type = 'Lock' AND pg_backend_pid() = ANY(pg_blocking_pids(pid)))"
)


def _execute_chunk(batch_id: UUID, chunk_size: int) -> _ChunkDone | None:
    """Pay the next chunk of unpaid rows in one transaction; how long it held the accounts'
    locks and whether anyone waited for them, or None when no row is left."""
    locked_at: list[float] = []
    with transaction.atomic():
        # The batch row lock serialises two workers that run the same batch.
        batch = Batch.objects.select_for_update().get(pk=batch_id)
        if batch.status != Batch.Status.EXECUTING:
            return None
        # Rows are paid in order, so the batch's payments say how far it got: the next
        # chunk starts after the last row that has one (the unique (batch, row) index).
        last_row = Payment.objects.filter(batch_id=batch_id).aggregate(last=Max("batch_row"))[
            "last"
        ]
        items = list(
            # Through the (batch, row) index from last_row, stopping at chunk_size rows (the
            # status has no index of its own to tempt the planner into sorting every valid
            # row of the batch for every chunk).
            BatchItem.objects.filter(
                batch_id=batch_id, row__gt=last_row or 0, status=BatchItem.Status.VALID
            )
            .order_by("row")
            .values_list(
                "id",
                "row",
                "debtor_account_id",
                "creditor_account_id",
                "amount",
                "currency",
                "reference",
                "end_to_end_id",
            )[:chunk_size]
        )
        if not items:
            return None
        payment_ids = [uuid.uuid4() for _ in items]
        # Before any account is locked, every row is written as paid; a row refused under
        # the locks is turned failed below, in this same transaction.
        bulk.update(
            BatchItem,
            ["payment_id", "status", "error_code", "error_message"],
            [
                (item[0], payment_id, BatchItem.Status.PAID, "", "")
                for item, payment_id in zip(items, payment_ids, strict=True)
            ],
        )
        results = payments_create_for_batch(
            merchant=batch.merchant,
            batch_id=batch.pk,
            # Paid from the funds held at approval (none for a batch approved before holds).
            holds=dict(
                BatchHold.objects.filter(batch=batch, hold__status=Hold.Status.ACTIVE).values_list(
                    "hold__account_id", "hold_id"
                )
            ),
            orders=[
                BatchPaymentOrder(
                    batch_row=row,
                    # A valid row has a debtor (its own or the batch's) and an amount.
                    debtor_id=cast(UUID, debtor_id or batch.debtor_account_id),
                    creditor_id=creditor_id,
                    amount=cast(int, amount),
                    currency=currency,
                    reference=reference,
                    end_to_end_id=end_to_end_id,
                    payment_id=payment_id,
                )
                for (
                    _,
                    row,
                    debtor_id,
                    creditor_id,
                    amount,
                    currency,
                    reference,
                    end_to_end_id,
                ), payment_id in zip(items, payment_ids, strict=True)
            ],
            on_locked=lambda: locked_at.append(time.monotonic()),
        )
        bulk.update(
            BatchItem,
            ["status", "error_code", "error_message"],
            [
                (item_id, BatchItem.Status.FAILED, refusal.reason_code, refusal.detail[:500])
                for (item_id, *_), (_, refusal) in zip(items, results, strict=True)
                if refusal is not None
            ],
        )
        # Counted from the outcomes of the rows this transaction changes, committed with
        # them: a crash rolls both back together, so the counts can never drift.
        paid = sum(1 for _, refusal in results if refusal is None)
        transaction.on_commit(lambda: _count_rows(paid, len(results) - paid))
        Batch.objects.filter(pk=batch.pk).update(
            succeeded_count=F("succeeded_count") + paid,
            failed_count=F("failed_count") + (len(results) - paid),
            processed_count=F("processed_count") + len(results),
            updated_at=timezone.now(),
        )
        contended = bool(locked_at) and bool(pgsql.execute(CONTENDED_SQL)[0][0])
    return _ChunkDone(
        locked_seconds=time.monotonic() - locked_at[0] if locked_at else 0.0, contended=contended
    )


def _count_rows(paid: int, failed: int) -> None:
    metrics.BATCH_ROWS.labels("paid").inc(paid)
    metrics.BATCH_ROWS.labels("failed").inc(failed)
    metrics.PAYMENTS.labels(Payment.Status.COMPLETED, "batch").inc(paid)
    metrics.PAYMENTS.labels(Payment.Status.FAILED, "batch").inc(failed)


def _store_progress(batch: Batch) -> None:
    """Progress counted from the rows' states, so a crash can never leave it wrong."""
    counts = batch.items.aggregate(
        paid=Count("id", filter=Q(status=BatchItem.Status.PAID)),
        failed=Count("id", filter=Q(status=BatchItem.Status.FAILED)),
    )
    batch.succeeded_count = counts["paid"]
    batch.failed_count = counts["failed"]
    batch.processed_count = counts["paid"] + counts["failed"]
    batch.save(update_fields=["succeeded_count", "failed_count", "processed_count", "updated_at"])


@transaction.atomic
def _finish(batch_id: UUID) -> Batch:
    batch = Batch.objects.select_for_update().get(pk=batch_id)
    if batch.status != Batch.Status.EXECUTING:
        return batch
    if batch.items.filter(status=BatchItem.Status.VALID).exists():
        return batch  # another worker is still paying
    _release_holds(batch)  # what failed rows did not give back already
    _store_progress(batch)
    if batch.succeeded_count == batch.item_count:
        batch.status = Batch.Status.COMPLETED
    elif batch.succeeded_count > 0:
        batch.status = Batch.Status.COMPLETED_WITH_ERRORS
    else:
        batch.status = Batch.Status.FAILED
    batch.finished_at = timezone.now()
    batch.save(update_fields=["status", "finished_at", "updated_at"])
    audit.record(
        actor=Actor.system("batch execution"),
        action=f"batch.{batch.status}",
        target=batch,
        succeeded=batch.succeeded_count,
        failed=batch.failed_count,
    )
    event = "batch.failed" if batch.status == Batch.Status.FAILED else "batch.completed"
    webhooks.emit(merchant=batch.merchant, event_type=event, data=batch_event_data(batch))
    # Its own job, after this commit: maintenance, not the batch's work (and one pending at
    # a time, however many batches end together).
    outbox.schedule(
        key="statistics.refresh", job="batches.jobs.refresh_statistics", args=[], queue="default"
    )
    if batch.uploaded_by and batch.uploaded_by.email:
        outbox.schedule(
            key=f"batch.mail:{batch.id}",
            job="batches.jobs.mail_maker",
            args=[str(batch.id)],
            queue="default",
        )
    return batch


# What an execution grows: a 100,000-row batch doubles these tables in a minute.
_GROWN_BY_EXECUTION = [
    "payments_payment",
    "accounts_ledgertransaction",
    "accounts_ledgerentry",
    "batches_batchitem",
]


def refresh_statistics() -> None:
    """ANALYZE the tables an execution grew, once autoanalyze's own threshold (50 rows and a
    tenth of the table changed since the last ANALYZE) is passed and it has not run.

    Autovacuum may be off (CI, test machines) or not round yet; until then the planner
    takes a table of 100,000 new rows for an empty one, and the statement, the reports and
    the searches that read the batch next get plans for a few rows. A job of its own, which
    `_finish` schedules with the batch's end, outside any transaction: ANALYZE samples (at
    most 30,000 rows a table) and blocks no writer. A failure here costs plans, never the
    batch: it is logged.
    """
    try:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT s.relname FROM pg_stat_user_tables s JOIN pg_class c ON c.oid = s.relid"
                " WHERE s.schemaname = current_schema() AND s.relname = ANY(%s)"
                "   AND s.n_mod_since_analyze > 50 + 0.1 * greatest(c.reltuples, 0)",
                [_GROWN_BY_EXECUTION],
            )
            for (table,) in cursor.fetchall():
                cursor.execute(f"ANALYZE {connection.ops.quote_name(table)}")
    except DatabaseError:
        logging.getLogger(__name__).warning("batch.statistics_not_refreshed", exc_info=True)


def batch_event_data(batch: Batch) -> dict:
    return {
        "object": "batch",
        "id": str(batch.id),
        "status": batch.status,
        "file_name": batch.file_name,
        "item_count": batch.item_count,
        "succeeded_count": batch.succeeded_count,
        "failed_count": batch.failed_count,
        "invalid_count": batch.invalid_count,
    }


def batch_mail_maker(*, batch_id: UUID) -> None:
    """Tell whoever uploaded the batch how it ended (an outbox job: at least once)."""
    batch = Batch.objects.select_related("uploaded_by").get(pk=batch_id)
    if batch.uploaded_by is None or not batch.uploaded_by.email:
        return
    send_mail(
        subject=f"Batch {batch.file_name}: {batch.get_status_display().lower()}",
        message=(
            f"Your batch {batch.file_name} ({batch.id}) finished: {batch.get_status_display()}.\n"
            f"Rows: {batch.item_count}; paid: {batch.succeeded_count}; "
            f"failed: {batch.failed_count}; invalid at validation: {batch.invalid_count}.\n"
        ),
        from_email=None,
        recipient_list=[batch.uploaded_by.email],
    )
