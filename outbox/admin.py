"""The back office's read-only view of the outbox."""

from __future__ import annotations

from django.contrib import admin

from common.admin import ReadOnlyAdmin
from outbox.models import OutboxJob


class OutboxPendingFilter(admin.SimpleListFilter):
    title = "state"
    parameter_name = "state"

    def lookups(self, request, model_admin):
        return [("pending", "Pending"), ("done", "Done"), ("failing", "Pending, last run failed")]

    def queryset(self, request, queryset):
        if self.value() == "pending":
            return queryset.filter(done_at__isnull=True)
        if self.value() == "done":
            return queryset.filter(done_at__isnull=False)
        if self.value() == "failing":
            return queryset.filter(done_at__isnull=True).exclude(last_error="")
        return queryset


@admin.register(OutboxJob)
class OutboxJobAdmin(ReadOnlyAdmin):
    """The background work of the hub (outbox/services.py): read-only, the sweep retries."""

    list_display = (
        "id",
        "key",
        "queue",
        "due_at",
        "enqueue_count",
        "attempts",
        "heartbeat_at",
        "done_at",
    )
    list_filter = (OutboxPendingFilter, "queue", ("created_at", admin.DateFieldListFilter))
    search_fields = ("=key", "=rq_job_id", "key")
    search_help_text = "A key exactly (batch.validate:<batch id>), an RQ job id, or part of a key."
