"""Execution: pay the valid rows a chunk per transaction, sized by contention, and end
the batch; safe to run again after a crash."""

from __future__ import annotations

import logging
import time
import uuid
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import cast
from uuid import UUID

import structlog
from django.conf import settings
from django.core.mail import send_mail
from django.db import DatabaseError, connection, transaction
from django.db.models import Count, F, Max, Q
from django.utils import timezone

from accounts.identity import audit
from accounts.identity.actions import AuditAction
from accounts.identity.audit import Actor
from accounts.models import Hold
from batches.models import Batch, BatchHold, BatchItem
from batches.services import integrity, network, payee_verification
from batches.services.base import enqueue, lock, start_or_schedule
from batches.services.holds import release_holds
from common.db import bulk, pgsql
from outbox import services as outbox
from outbox.models import OutboxJob
from payments import metrics, webhooks
from payments.batch_orders import BatchPaymentOrder, payments_create_for_batch
from payments.models import Payment

# --- execution ----------------------------------------------------------------------------


def batch_start_due(*, today: date | None = None) -> list[UUID]:
    """Scheduled batches whose execution date has come start executing."""
    today = today or timezone.localdate()
    started = []
    for batch_id in Batch.objects.filter(
        status=Batch.Status.SCHEDULED, execution_date__lte=today
    ).values_list("id", flat=True):
        with transaction.atomic(durable=True):
            batch = lock(batch_id)
            if batch.status == Batch.Status.SCHEDULED:
                start_or_schedule(batch, today)
                started.append(batch.pk)
    return started


@transaction.atomic(durable=True)
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
            enqueue(verb, batch_id)
            resumed.append(batch_id)
    return resumed


def batch_execute(*, batch_id: UUID, chunk_size: int | None = None) -> Batch:
    """Pay every valid row not yet paid, a chunk per transaction; safe to run again.

    Without `chunk_size`, `_ChunkSizer` sizes each chunk: large while no one waits for the
    accounts a chunk locks, and holding them for about BATCH_CHUNK_LOCK_MS once a real-time
    payment from the batch's debtor account, or into one of its creditors, has to wait.
    """
    structlog.contextvars.bind_contextvars(batch_id=str(batch_id))
    with transaction.atomic(durable=True):
        batch = lock(batch_id)
        if batch.status not in (Batch.Status.APPROVED, Batch.Status.EXECUTING):
            return batch
        if integrity.stored_rows_digest(batch) != batch.validated_sha256:
            return _stop_changed(batch)
        batch.status = Batch.Status.EXECUTING
        batch.started_at = batch.started_at or timezone.now()
        batch.save(update_fields=["status", "started_at", "updated_at"])
    sizer = _ChunkSizer()
    while (done := _execute_chunk(batch_id, chunk_size or sizer.size)) is not None:
        sizer.after(done)
    return _finish(batch_id)


def _stop_changed(batch: Batch) -> Batch:
    """The rows differ from what the approvers signed: pay nothing more, give the funds
    back, and say so everywhere (the log at error level, the trail, the batch)."""
    logging.getLogger(__name__).error(
        "batch.rows_changed_after_approval", extra={"batch_id": str(batch.pk)}
    )
    release_holds(batch)
    batch.status = Batch.Status.FAILED
    batch.error_code = "NARR"
    batch.error_message = (
        "stopped: the batch's rows differ from what was approved (validated_sha256); "
        "nothing more is paid"
    )
    batch.finished_at = timezone.now()
    batch.save(update_fields=["status", "error_code", "error_message", "finished_at", "updated_at"])
    audit.record(
        actor=Actor.system("batch execution"),
        action=AuditAction.BATCH_ROWS_CHANGED,
        target=batch,
        approved=batch.validated_sha256,
    )
    return batch


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
    with transaction.atomic(durable=True):
        # The batch row lock serialises two workers that run the same batch.
        batch = lock(batch_id)
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
                "debtor_address",
                "creditor_address",
            )[:chunk_size]
        )
        if not items:
            return None
        payment_ids = [uuid.uuid4() for _ in items]
        # Rows to other banks' customers: paid into the peer's clearing account, then sent.
        external = network.ChunkRows(batch, items)
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
                    creditor_id=creditor_id or external.creditor(item_id),
                    amount=cast(int, amount),
                    currency=currency,
                    reference=reference,
                    end_to_end_id=end_to_end_id,
                    payment_id=payment_id,
                    debtor_address=debtor_address,
                    creditor_address=creditor_address,
                )
                for (
                    item_id,
                    row,
                    debtor_id,
                    creditor_id,
                    amount,
                    currency,
                    reference,
                    end_to_end_id,
                    debtor_address,
                    creditor_address,
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
        payee_verification.copy_to_payments(batch_id=batch.pk, payment_ids=payment_ids)
        # Counted from the outcomes of the rows this transaction changes, committed with
        # them: a crash rolls both back together, so the counts can never drift.
        pending = external.send(
            [(item[0], *result) for item, result in zip(items, results, strict=True)]
        )
        paid = sum(1 for _, refusal in results if refusal is None) - pending
        failed = len(results) - paid - pending
        transaction.on_commit(lambda: _count_rows(paid, failed))
        Batch.objects.filter(pk=batch.pk).update(
            succeeded_count=F("succeeded_count") + paid,
            failed_count=F("failed_count") + failed,
            processed_count=F("processed_count") + paid + failed,
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


@transaction.atomic(durable=True)
def _finish(batch_id: UUID) -> Batch:
    return finish_locked(lock(batch_id))


def finish_locked(batch: Batch) -> Batch:
    """End the batch (locked by the caller) once every row is final: here, or with the
    peer's answer to its last row sent to another bank (network.row_settled)."""
    if batch.status != Batch.Status.EXECUTING:
        return batch
    if batch.items.filter(status__in=[BatchItem.Status.VALID, BatchItem.Status.PENDING]).exists():
        return batch  # another worker is still paying, or another bank has yet to answer
    release_holds(batch)  # what failed rows did not give back already
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
        action=AuditAction(f"batch.{batch.status}"),
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
