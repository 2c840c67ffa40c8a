"""Back-office screens for batches, their rows and approvals: read-only; decisions
are made on the dashboard, where the four-eyes rules apply."""

from __future__ import annotations

from django.contrib import admin

from accounts.ledger import money
from accounts.ledger.admin import CurrencyFilter, money_field
from batches.models import Approval, Batch, BatchHold, BatchItem
from common.admin import ReadOnlyAdmin, ReadOnlyInline
from common.admin_filters import date_range_filter


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
        "message_id",
        "format",
        "status",
        "item_count",
        "invalid_count",
        "total_display",
        "execution_date",
    )
    list_filter = (
        "status",
        "format",
        CurrencyFilter,
        ("created_at", admin.DateFieldListFilter),
        date_range_filter("created_at", "uploaded (days)"),
    )
    search_fields = ("=id", "=file_sha256", "=message_id", "file_name", "merchant__name")
    search_help_text = (
        "A batch id, the file's SHA-256 or MsgId (exact), or any part of the file name or "
        "of the merchant's name (any case)."
    )
    list_select_related = ("merchant",)
    date_hierarchy = "created_at"
    inlines = [ApprovalInline]
    exclude = ("file", "total_amount")
    readonly_fields = ("total_display",)
    total_display = money_field("total_amount", description="total of the valid rows")


@admin.register(BatchItem)
class BatchItemAdmin(ReadOnlyAdmin):
    list_display = (
        "batch_id",
        "row",
        "creditor_account_number",
        "amount_display",
        "status",
        "error_code",
        "payment_id",
    )
    list_filter = ("status", "error_code")
    search_fields = ("=batch__id", "=creditor_account_number", "=end_to_end_id", "=reference")
    search_help_text = (
        "A batch id, or a row's creditor account number, end-to-end id or reference, "
        "each exact (any case); several words must each match."
    )
    list_select_related = ("batch",)
    autocomplete_fields = ("batch", "creditor_account", "debtor_account", "payment")
    exclude = ("amount",)
    readonly_fields = ("amount_display",)

    @admin.display(description="amount")
    def amount_display(self, obj: BatchItem) -> str:
        # A row whose amount did not parse shows what the file said.
        if obj.amount is None:
            return obj.amount_text or "—"
        return money.display(obj.amount, obj.currency)


@admin.register(BatchHold)
class BatchHoldAdmin(ReadOnlyAdmin):
    """The funds an approved batch holds, per debtor account (written by the services only)."""

    list_display = ("batch", "hold", "held_account", "hold_status")
    search_fields = ("=batch__id", "=hold__id", "=hold__account__number")
    list_select_related = ("batch", "hold__account")
    list_filter = ("hold__status",)

    @admin.display(description="account")
    def held_account(self, obj: BatchHold) -> str:
        return obj.hold.account.number

    @admin.display(description="hold status")
    def hold_status(self, obj: BatchHold) -> str:
        return obj.hold.status
