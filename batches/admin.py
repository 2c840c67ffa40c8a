"""Back-office screens for batches, their rows and approvals: read-only; decisions
are made on the dashboard, where the four-eyes rules apply."""

from __future__ import annotations

from django.contrib import admin

from accounts.ledger import money
from batches.models import Approval, Batch, BatchItem
from common.admin import ReadOnlyAdmin, ReadOnlyInline


class ApprovalInline(ReadOnlyInline):
    model = Approval
    fields = ("approver", "decision", "reason", "validated_sha256", "ip", "created_at")


@admin.register(Batch)
class BatchAdmin(ReadOnlyAdmin):
    list_display = (
        "id",
        "created_at",
        "merchant",
        "file_name",
        "format",
        "status",
        "item_count",
        "invalid_count",
        "total_display",
        "currency",
        "execution_date",
    )
    list_filter = ("status", "format", "currency", ("created_at", admin.DateFieldListFilter))
    search_fields = ("=id", "=file_sha256", "=message_id", "file_name", "merchant__name")
    list_select_related = ("merchant",)
    date_hierarchy = "created_at"
    inlines = [ApprovalInline]
    exclude = ("file",)

    @admin.display(description="total", ordering="total_amount")
    def total_display(self, obj: Batch) -> str:
        return money.to_major(obj.total_amount, obj.currency) if obj.currency else "—"


@admin.register(BatchItem)
class BatchItemAdmin(ReadOnlyAdmin):
    list_display = (
        "batch_id",
        "row",
        "creditor_account_number",
        "amount_text",
        "currency",
        "status",
        "error_code",
        "payment_id",
    )
    list_filter = ("status", "error_code")
    search_fields = ("=batch__id", "=creditor_account_number", "=end_to_end_id", "=reference")
    raw_id_fields = ("batch", "creditor_account", "debtor_account", "payment")
