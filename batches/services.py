"""Every state change of a batch: upload, validate, approve, reject, cancel, execute.

Validation and execution run in RQ workers (batches/jobs.py) and are safe to
run again after a crash: validation starts over, execution continues with the
rows that are still unpaid, in chunks of one database transaction each.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, date, datetime, timedelta
from typing import BinaryIO, cast
from uuid import UUID

import django_rq
from django.conf import settings
from django.core.files import File
from django.core.mail import send_mail
from django.db import IntegrityError, transaction
from django.db.models import Count, F, Max, Q
from django.utils import timezone

from accounts.identity import audit
from accounts.identity.audit import Actor
from accounts.identity.roles import APPROVER, has_role
from accounts.ledger import bulk, money
from accounts.ledger import currency as iso4217
from accounts.ledger.errors import (
    InvalidAmount,
    InvalidState,
    LedgerError,
    UnknownCurrency,
    ZeroAmount,
)
from accounts.models import Account, Merchant, User
from batches import parsers, selectors
from batches.models import Approval, Batch, BatchItem
from payments import webhooks
from payments.models import MerchantAPIKey, Payment
from payments.services import BatchPaymentOrder, payments_create_for_batch

ROW_CHUNK = 5000


class BatchError(LedgerError):
    """The batch request is refused."""

    code = "batch_refused"
    status = 400


class NotAllowed(BatchError):
    code = "not_allowed"
    status = 403


def _enqueue(job: str, batch_id: UUID) -> None:
    transaction.on_commit(
        lambda: django_rq.get_queue("batches").enqueue(job, str(batch_id)), robust=True
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
    if (
        Batch.objects.filter(merchant=merchant, file_sha256=sha256)
        .exclude(status=Batch.Status.INVALID)
        .exists()
    ):
        _mark_duplicate(batch, "this file was uploaded before")
    batch.file.save(f"{batch.id}.upload", upload, save=False)
    try:
        with transaction.atomic():
            batch.save()
    except IntegrityError:
        # The same file raced in through another request: this copy is the duplicate.
        _mark_duplicate(batch, "this file was uploaded before")
        batch.save()
    audit.record(
        actor=actor, action="batch.upload", target=batch, file=batch.file_name, sha256=sha256
    )
    if batch.status == Batch.Status.UPLOADED:
        _enqueue("batches.jobs.validate_batch", batch.id)
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

    def values(self, batch_id: UUID) -> tuple:
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
        )


def _aware(moment: datetime | None) -> datetime | None:
    # An ISODateTime without an offset is the sender's local time, which the file does not
    # say; it is kept as UTC, the same convention as the API's time filters.
    if moment is None or moment.tzinfo is not None:
        return moment
    return moment.replace(tzinfo=UTC)


def _targets(**filters) -> dict[str, _Target]:
    return {
        number: _Target(id_, number, status, currency)
        for id_, number, status, currency in Account.objects.filter(**filters).values_list(
            "id", "number", "status", "currency"
        )
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
    batch.validated_at = timezone.now()
    batch.save()
    return batch


@transaction.atomic
def batch_validate(*, batch_id: UUID) -> Batch:
    """Parse and check the file; rows that fail keep their reason, the rest go on.

    One transaction: a worker killed part-way leaves nothing behind, and the
    job simply runs again.
    """
    batch = Batch.objects.select_for_update().get(pk=batch_id)
    if batch.status not in (Batch.Status.UPLOADED, Batch.Status.VALIDATING):
        return batch
    BatchItem.objects.filter(batch=batch).delete()
    checker = _RowChecker(batch)
    approval_digest = hashlib.sha256(batch.file_sha256.encode())
    counts = {"items": 0, "valid": 0, "invalid": 0}
    totals: dict[str, int] = {}
    latest_date: date | None = None
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
                .exclude(status=Batch.Status.INVALID)
                .exists()
            ):
                return _reject_file(batch, "DUPL", f"MsgId {batch.message_id!r} was used before")
            chunk: list[parsers.ParsedRow] = []
            for row in parsed:
                chunk.append(row)
                if len(chunk) >= ROW_CHUNK:
                    latest_date = _store(
                        checker, chunk, counts, totals, approval_digest, latest_date
                    )
                    chunk = []
            if chunk:
                latest_date = _store(checker, chunk, counts, totals, approval_digest, latest_date)
    except parsers.FileRejected as rejected:
        return _reject_file(batch, rejected.code, rejected.message)
    if counts["items"] == 0:
        return _reject_file(batch, "FF01", "the file holds no transactions")
    batch.item_count = counts["items"]
    batch.valid_count = counts["valid"]
    batch.invalid_count = counts["invalid"]
    batch.currency = next(iter(totals)) if len(totals) == 1 else ""
    batch.total_amount = sum(totals.values()) if len(totals) == 1 else 0
    if batch.execution_date is None or (latest_date and latest_date > batch.execution_date):
        batch.execution_date = latest_date
    batch.validated_sha256 = approval_digest.hexdigest()
    batch.status = Batch.Status.AWAITING_APPROVAL
    batch.validated_at = timezone.now()
    try:
        with transaction.atomic():
            batch.save()
    except IntegrityError:
        return _reject_file(batch, "DUPL", f"MsgId {batch.message_id!r} was used before")
    return batch


def _store(checker, chunk, counts, totals, approval_digest, latest_date):
    checked = checker.check(chunk)
    bulk.insert(BatchItem, ITEM_COLUMNS, [item.values(checker.batch.pk) for item in checked])
    for item in checked:
        counts["items"] += 1
        if item.code:
            counts["invalid"] += 1
            continue
        row = item.row
        counts["valid"] += 1
        totals[row.currency] = totals.get(row.currency, 0) + item.amount
        approval_digest.update(
            f"{row.row}|{item.debtor.id}|{item.creditor.id}|{item.amount}|{row.currency}\n".encode()
        )
        if row.execution_date and (latest_date is None or row.execution_date > latest_date):
            latest_date = row.execution_date
    return latest_date


# --- four eyes ----------------------------------------------------------------------------


def _check_approver(batch: Batch, user: User) -> None:
    if not (user.is_superuser or has_role(user, APPROVER)):
        raise NotAllowed("only an approver may approve or reject a batch")
    if batch.uploaded_by_id == user.pk:
        raise NotAllowed("you uploaded this batch: another approver must decide on it")


def _decide(
    *, batch_id: UUID, approver: User, decision: str, actor: Actor, reason: str = ""
) -> Batch:
    """Lock the batch, check that this approver may decide now, record the decision."""
    batch = Batch.objects.select_for_update().get(pk=batch_id)
    _check_approver(batch, approver)
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
        ip=actor.ip,
    )
    return batch


@transaction.atomic
def batch_approve(
    *, batch_id: UUID, approver: User, actor: Actor, today: date | None = None
) -> Batch:
    batch = _decide(
        batch_id=batch_id, approver=approver, decision=Approval.Decision.APPROVE, actor=actor
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
    )
    if approvals >= needed:
        batch.status = Batch.Status.APPROVED
        batch.approved_at = timezone.now()
        batch.save(update_fields=["status", "approved_at", "updated_at"])
        _start_or_schedule(batch, today or timezone.localdate())
    return batch


def _start_or_schedule(batch: Batch, today: date) -> None:
    if batch.execution_date and batch.execution_date > today:
        batch.status = Batch.Status.SCHEDULED
        batch.save(update_fields=["status", "updated_at"])
    else:
        batch.status = Batch.Status.EXECUTING
        batch.save(update_fields=["status", "updated_at"])
        _enqueue("batches.jobs.execute_batch", batch.id)


@transaction.atomic
def batch_reject(*, batch_id: UUID, approver: User, reason: str, actor: Actor) -> Batch:
    reason = reason.strip()
    if not reason:
        raise BatchError("a rejection needs a reason")
    batch = _decide(
        batch_id=batch_id,
        approver=approver,
        decision=Approval.Decision.REJECT,
        actor=actor,
        reason=reason,
    )
    batch.status = Batch.Status.REJECTED
    batch.decision_reason = reason[:500]
    batch.finished_at = timezone.now()
    batch.save(update_fields=["status", "decision_reason", "finished_at", "updated_at"])
    audit.record(actor=actor, action="batch.reject", target=batch, reason=reason)
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


def batch_resume_stalled(*, now: datetime | None = None, stalled_after: int = 120) -> list[UUID]:
    """Re-enqueue executions whose worker died: executing, and no progress for a while.

    Running an execution twice is safe (the batch row lock serialises chunks and
    paid rows are skipped), so a false alarm costs nothing but a no-op job.
    """
    cutoff = (now or timezone.now()) - timedelta(seconds=stalled_after)
    stalled = list(
        Batch.objects.filter(status=Batch.Status.EXECUTING, updated_at__lt=cutoff).values_list(
            "id", flat=True
        )
    )
    for batch_id in stalled:
        django_rq.get_queue("batches").enqueue("batches.jobs.execute_batch", str(batch_id))
    return stalled


def batch_execute(*, batch_id: UUID, chunk_size: int | None = None) -> Batch:
    """Pay every valid row not yet paid, a chunk per transaction; safe to run again."""
    chunk_size = chunk_size or settings.BATCH_CHUNK_SIZE
    with transaction.atomic():
        batch = Batch.objects.select_for_update().get(pk=batch_id)
        if batch.status not in (Batch.Status.APPROVED, Batch.Status.EXECUTING):
            return batch
        batch.status = Batch.Status.EXECUTING
        batch.started_at = batch.started_at or timezone.now()
        batch.save(update_fields=["status", "started_at", "updated_at"])
    while _execute_chunk(batch_id, chunk_size):
        pass
    return _finish(batch_id)


def _execute_chunk(batch_id: UUID, chunk_size: int) -> bool:
    """Pay the next chunk of unpaid rows in one transaction; False when none is left."""
    with transaction.atomic():
        # The batch row lock serialises two workers that run the same batch.
        batch = Batch.objects.select_for_update().get(pk=batch_id)
        if batch.status != Batch.Status.EXECUTING:
            return False
        # Rows are paid in order, so the batch's payments say how far it got: the next
        # chunk starts after the last row that has one (the unique (batch, row) index).
        last_row = Payment.objects.filter(batch_id=batch_id).aggregate(last=Max("batch_row"))[
            "last"
        ]
        items = list(
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
            return False
        results = payments_create_for_batch(
            merchant=batch.merchant,
            batch_id=batch.pk,
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
                )
                for _, row, debtor_id, creditor_id, amount, currency, reference, end_to_end_id in items
            ],
        )
        updates = []
        for (item_id, *_), (payment_id, refusal) in zip(items, results, strict=True):
            if refusal is None:
                updates.append((item_id, payment_id, BatchItem.Status.PAID, "", ""))
            else:
                updates.append(
                    (
                        item_id,
                        payment_id,
                        BatchItem.Status.FAILED,
                        refusal.reason_code,
                        refusal.detail[:500],
                    )
                )
        bulk.update(BatchItem, ["payment_id", "status", "error_code", "error_message"], updates)
        # Counted from the outcomes of the rows this transaction changes, committed with
        # them: a crash rolls both back together, so the counts can never drift.
        paid = sum(1 for _, refusal in results if refusal is None)
        Batch.objects.filter(pk=batch.pk).update(
            succeeded_count=F("succeeded_count") + paid,
            failed_count=F("failed_count") + (len(results) - paid),
            processed_count=F("processed_count") + len(results),
            updated_at=timezone.now(),
        )
        return True


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
    if batch.uploaded_by and batch.uploaded_by.email:
        transaction.on_commit(lambda: _mail_maker(batch), robust=True)
    return batch


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


def _mail_maker(batch: Batch) -> None:
    assert batch.uploaded_by is not None  # sent only for a batch uploaded by a user
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
