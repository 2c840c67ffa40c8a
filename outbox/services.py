"""The transactional outbox: background work recorded with the change that asks for it.

`schedule` writes an OutboxJob row inside the caller's transaction and enqueues it on
commit; `run` (the RQ job) calls the work, beats a heartbeat while it runs and marks the
row done; `sweep` (config/cron.py, every few seconds) enqueues again what is due and not
done whose RQ job was never sent, was lost with Redis, or whose worker stopped beating.
Every job run this way must be safe to run twice: the outbox delivers at least once.
"""

from __future__ import annotations

import logging
import threading
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Any

import django_rq
import structlog
from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import F, Q
from django.utils import timezone
from django.utils.module_loading import import_string
from redis.exceptions import RedisError
from rq.exceptions import NoSuchJobError
from rq.job import Job, JobStatus

from common.db import pgsql
from outbox import metrics
from outbox.models import OutboxJob

logger = logging.getLogger(__name__)

RUN = "outbox.services.run"
# An RQ job in one of these states is still on its way: the sweep leaves it alone.
ALIVE = {JobStatus.QUEUED, JobStatus.DEFERRED, JobStatus.SCHEDULED}
KEEP_DONE = timedelta(days=7)


def heartbeat_seconds() -> int:
    return settings.OUTBOX_HEARTBEAT_SECONDS


def stale_after() -> timedelta:
    """No heartbeat for this long: the worker running the job is gone."""
    return timedelta(seconds=3 * settings.OUTBOX_HEARTBEAT_SECONDS)


def retry_delay(attempts: int) -> timedelta:
    """After a job raised: 10 s, 20 s, 40 s... up to 10 minutes."""
    return timedelta(seconds=min(600, 10 * 2 ** max(0, attempts - 1)))


def schedule(
    *,
    key: str,
    job: str,
    args: list[Any],
    queue: str,
    due_at: datetime | None = None,
    new_key: bool = False,
) -> OutboxJob:
    """Record work to do, in the caller's transaction; it is enqueued once that commits.

    Asking again for a key that is still pending returns the pending row: the work it
    stands for has not started yet, or will see the new state when it runs again.
    `new_key`: the key names something the same transaction has just created, so no row
    can have it: one INSERT, without the look-up and the savepoint."""
    if not connection.in_atomic_block:
        raise RuntimeError("outbox.schedule belongs inside the transaction of the change")
    fields = {
        "key": key,
        "job": job,
        "args": args,
        "queue": queue,
        "due_at": due_at or timezone.now(),
        "request_id": str(structlog.contextvars.get_contextvars().get("request_id", ""))[:64],
    }
    if new_key:
        row = pgsql.insert(OutboxJob(**fields))  # one prepared INSERT, no compiler
    else:
        pending = OutboxJob.objects.filter(key=key, done_at__isnull=True).first()
        if pending is not None:
            return pending
        try:
            with transaction.atomic():
                row = OutboxJob.objects.create(**fields)
        except IntegrityError:  # the same key, asked for by a concurrent transaction
            return OutboxJob.objects.get(key=key, done_at__isnull=True)
    if row.due_at <= timezone.now():
        after_commit(_enqueue, row.pk, row.queue, row.enqueue_count)
    return row


def after_commit(func: Callable[..., Any], *args: Any) -> None:
    """Call `func(*args)` once the transaction commits, never raising into the caller.

    What runs after the commit only hurries along work whose row the transaction wrote (the
    sweeps send it anyway): by then the change is made, and the request that made it must
    answer as such, whatever Redis or this call does. Not Django's robust=True alone: its
    handler names the callable by __qualname__, which a functools.partial lacks, so the
    error it means to log becomes an AttributeError in the request (issue 18, point 8)."""

    def call_after_commit() -> None:
        try:
            func(*args)
        except Exception:  # noqa: BLE001 - logged; the sweep does the work later
            logger.warning(
                "after-commit call %s failed; the sweep will do its work",
                getattr(func, "__qualname__", repr(func)),
                exc_info=True,
            )

    transaction.on_commit(call_after_commit)


def _enqueue(outbox_id: int, queue: str, enqueue_count: int) -> str | None:
    """Send one RQ job for the row; None when Redis is away (the sweep tries again)."""
    rq_job_id = f"outbox-{outbox_id}-{enqueue_count + 1}"
    try:
        django_rq.get_queue(queue, commit_mode="auto").enqueue(
            RUN, outbox_id, job_id=rq_job_id, failure_ttl=24 * 3600
        )
    except RedisError as error:
        logger.warning("outbox job %s not enqueued (%s); the sweep will", outbox_id, error)
        return None
    OutboxJob.objects.filter(pk=outbox_id).update(
        enqueued_at=timezone.now(), enqueue_count=F("enqueue_count") + 1, rq_job_id=rq_job_id
    )
    return rq_job_id


def _rq_alive(row: OutboxJob) -> bool:
    if not row.rq_job_id:
        return False
    try:
        job = Job.fetch(row.rq_job_id, connection=django_rq.get_connection(row.queue))
        return job.get_status(refresh=False) in ALIVE
    except NoSuchJobError:
        return False


def due(*, now: datetime) -> list[OutboxJob]:
    """Rows the sweep must enqueue: due, not done, and neither waiting in a queue nor
    running with a recent heartbeat."""
    candidates = OutboxJob.objects.filter(done_at__isnull=True, due_at__lte=now).filter(
        Q(heartbeat_at__isnull=True) | Q(heartbeat_at__lt=now - stale_after())
    )
    chosen = []
    for row in candidates.order_by("due_at")[:500]:
        running = row.heartbeat_at is not None and row.started_at is not None
        if running:
            chosen.append(row)  # started, then its heartbeat stopped: the worker died
        elif not _rq_alive(row):
            chosen.append(row)  # never sent, or lost (Redis restarted, job failed)
    return chosen


def sweep(*, now: datetime | None = None) -> list[int]:
    """Enqueue what is due and not done nor alive; the ids of the rows sent."""
    now = now or timezone.now()
    sent = []
    for row in due(now=now):
        metrics.OUTBOX_RESENT.labels(
            "heartbeat stopped"
            if row.heartbeat_at is not None
            else ("never sent" if not row.rq_job_id else "lost")
        ).inc()
        if row.heartbeat_at is not None:
            logger.warning(
                "outbox job %s (%s) stalled: last heartbeat %s; enqueued again",
                row.pk,
                row.key,
                row.heartbeat_at.isoformat(),
            )
            # Cleared so that the next sweep waits for the new run's heartbeat or its RQ job.
            OutboxJob.objects.filter(pk=row.pk).update(heartbeat_at=None, started_at=None)
        if _enqueue(row.pk, row.queue, row.enqueue_count):
            sent.append(row.pk)
    return sent


def run(outbox_id: int) -> Any:
    """The RQ job: do the row's work unless it is done, beating while it runs."""
    row = OutboxJob.objects.filter(pk=outbox_id).first()
    if row is None or row.done_at is not None:
        return "done already"
    now = timezone.now()
    OutboxJob.objects.filter(pk=outbox_id).update(
        started_at=now, heartbeat_at=now, attempts=F("attempts") + 1
    )
    structlog.contextvars.clear_contextvars()
    structlog.contextvars.bind_contextvars(
        job=row.key, outbox_id=row.pk, request_id=row.request_id or None, **_ids_of(row.key)
    )
    try:
        with heartbeat(outbox_id):
            result = import_string(row.job)(*row.args)
    except Exception:
        metrics.OUTBOX_RUNS.labels(row.job, "failed").inc()
        failed_at = timezone.now()
        OutboxJob.objects.filter(pk=outbox_id).update(
            last_error=traceback.format_exc()[-4000:],
            heartbeat_at=None,
            started_at=None,
            due_at=failed_at + retry_delay(row.attempts + 1),
        )
        raise
    OutboxJob.objects.filter(pk=outbox_id, done_at__isnull=True).update(
        done_at=timezone.now(), heartbeat_at=None
    )
    metrics.OUTBOX_RUNS.labels(row.job, "done").inc()
    return result


def _ids_of(key: str) -> dict[str, str]:
    """The object a job is about, for its log lines: "batch.execute:<id>" -> batch_id."""
    kind, _, rest = key.partition(".")
    _verb, _, object_id = rest.partition(":")
    return {f"{kind}_id": object_id} if object_id else {}


@contextmanager
def heartbeat(outbox_id: int, *, every: float | None = None) -> Iterator[None]:
    """Write the row's heartbeat every `every` seconds from a thread of its own (with its
    own database connection, so a beat commits even while the job's transaction is open).
    A worker killed with the job stops beating with it."""
    stop = threading.Event()
    interval = heartbeat_seconds() if every is None else every

    def beat() -> None:
        from django.db import connection as thread_connection

        # A beat that fails (the database restarting, a failover) is logged and the next one
        # tries again on a new connection: one lost beat must neither kill the job nor stop
        # the beating, or the sweep would take a job that is still running for a dead one.
        try:
            while not stop.wait(interval):
                try:
                    OutboxJob.objects.filter(pk=outbox_id, done_at__isnull=True).update(
                        heartbeat_at=timezone.now()
                    )
                except Exception:  # noqa: BLE001 - a missed beat must not kill the job
                    logger.exception("outbox heartbeat of job %s failed", outbox_id)
                    thread_connection.close()
        finally:
            thread_connection.close()

    thread = threading.Thread(target=beat, name=f"outbox-heartbeat-{outbox_id}", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=5)


def done(key: str, *, now: datetime | None = None) -> int:
    """Mark the pending row of `key` done without running it, in the caller's transaction:
    the work it stood for was done another way (a transfer's answer applied as its first
    delivery came back). The number of rows marked (0 or 1)."""
    return len(
        pgsql.execute(
            f"UPDATE {OutboxJob._meta.db_table} SET done_at = %s "  # noqa: S608 - identifiers from model metadata; values are parameters
            "WHERE key = %s AND done_at IS NULL RETURNING id",
            [now or timezone.now(), key],
        )
    )


def purge_done(*, now: datetime | None = None) -> int:
    cutoff = (now or timezone.now()) - KEEP_DONE
    deleted, _ = OutboxJob.objects.filter(done_at__lt=cutoff).delete()
    return deleted


def backlog(*, now: datetime | None = None) -> dict[str, Any]:
    """For metrics and the health page: pending rows and the age of the oldest due one."""
    now = now or timezone.now()
    pending = OutboxJob.objects.filter(done_at__isnull=True, due_at__lte=now)
    oldest = pending.order_by("due_at").values_list("due_at", flat=True).first()
    return {
        "pending": pending.count(),
        "oldest_seconds": (now - oldest).total_seconds() if oldest else 0.0,
    }
