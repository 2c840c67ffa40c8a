"""What every stage of a batch shares: its errors, its row lock, and the request for
its background work (validation, execution) through the outbox."""

from __future__ import annotations

from datetime import date
from uuid import UUID

from accounts.identity.gate import CodeRefused, NotAllowed  # noqa: F401 - the gate's, re-exported
from accounts.ledger.errors import (
    LedgerError,
)
from batches.models import Batch
from outbox import services as outbox


class BatchError(LedgerError):
    """The batch request is refused."""

    code = "batch_refused"
    status = 400


class FundsShort(BatchError):
    """The last approval cannot reserve the batch's total: the batch keeps waiting."""

    code = "insufficient_funds"
    reason_code = "AM04"
    status = 409


def enqueue(verb: str, batch_id: UUID) -> None:
    """Ask for a batch's background work in the current transaction (the outbox): the row
    commits with the batch's new state, so a lost job or a Redis outage only delays it."""
    outbox.schedule(
        key=f"batch.{verb}:{batch_id}",
        job=f"batches.jobs.{verb}_batch",
        args=[str(batch_id)],
        queue="batches",
    )


def lock(batch_id: UUID) -> Batch:
    """The batch's row, locked for the rest of the transaction: every state change of a
    batch takes this lock first and checks the state after it."""
    return Batch.objects.select_for_update(of=("self",)).get(pk=batch_id)


def start_or_schedule(batch: Batch, today: date) -> None:
    if batch.execution_date and batch.execution_date > today:
        batch.status = Batch.Status.SCHEDULED
        batch.save(update_fields=["status", "updated_at"])
    else:
        batch.status = Batch.Status.EXECUTING
        batch.save(update_fields=["status", "updated_at"])
        enqueue("execute", batch.id)
