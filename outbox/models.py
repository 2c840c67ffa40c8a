"""The outbox's one model: background work recorded with the change that asks for it."""

from __future__ import annotations

from django.db import models
from django.db.models import Q


class OutboxJob(models.Model):
    """A piece of background work (validate or execute a batch, mail its maker), written
    in the same transaction as the change that asks for it (outbox/services.py).

    A lost RQ job, a Redis outage or a worker killed mid-job delays the work, never drops
    it: the sweep enqueues again whatever is due, not done, and not alive (no recent
    heartbeat). Done rows are kept a week for the back office, then purged.
    """

    id = models.BigAutoField(primary_key=True)
    # What the work is about, e.g. "batch.validate:<id>": one pending row per key.
    key = models.CharField(max_length=200)
    job = models.CharField(max_length=200, help_text="dotted path of the function to call")
    args = models.JSONField(default=list)
    queue = models.CharField(max_length=40, default="default")
    created_at = models.DateTimeField(auto_now_add=True)
    due_at = models.DateTimeField(db_index=True)
    enqueued_at = models.DateTimeField(null=True, blank=True)
    enqueue_count = models.PositiveIntegerField(default=0)
    rq_job_id = models.CharField(max_length=100, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True)
    done_at = models.DateTimeField(null=True, blank=True)
    # The request that asked for the work: the job's log lines carry it too.
    request_id = models.CharField(max_length=64, blank=True)

    class Meta:
        db_table = "payments_outboxjob"  # kept from when the outbox lived in payments
        ordering = ["-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["key"], condition=Q(done_at__isnull=True), name="outbox_one_pending_per_key"
            )
        ]
        indexes = [
            models.Index(
                fields=["due_at"], name="outbox_pending_by_due", condition=Q(done_at__isnull=True)
            )
        ]

    def __str__(self) -> str:
        return f"{self.key} ({'done' if self.done_at else 'pending'})"
