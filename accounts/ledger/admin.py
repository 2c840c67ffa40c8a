"""Back-office screens for merchants, accounts and the ledger.

Money is read-only here: balances and entries cannot be edited, added or
deleted; account status changes go through admin actions that call services.
"""

from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from accounts.identity.audit import Actor
from accounts.ledger import money, services
from accounts.ledger.errors import LedgerError
from accounts.ledger.models import Account, Hold, LedgerEntry, LedgerTransaction, Merchant
from common.admin import ReadOnlyAdmin, ReadOnlyInline


def money_field(
    field: str, *, currency: str = "currency", description: str = "", sortable: bool = True
):
    """An admin column or read-only field showing `field` (minor units) as "1,234.50 EUR".

    Assign it to a ModelAdmin or inline attribute and name that attribute in
    `list_display`, `fields` or `readonly_fields`.
    """

    @admin.display(
        description=description or field.replace("_", " "), ordering=field if sortable else None
    )
    def show(modeladmin, obj) -> str:
        return money.display(getattr(obj, field), getattr(obj, currency))

    show.__name__ = f"{field}_display"
    return show


@admin.register(Merchant)
class MerchantAdmin(admin.ModelAdmin):
    list_display = ("name", "id", "webhook_url", "created_at")
    search_fields = ("name", "=id")
    readonly_fields = ("id", "created_at")
    exclude = ("webhook_secret",)
    actions = ["rotate_webhook_secret"]

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    @admin.action(description="Rotate the webhook secret")
    def rotate_webhook_secret(self, request: HttpRequest, queryset: QuerySet[Merchant]) -> None:
        for merchant in queryset:
            services.merchant_rotate_webhook_secret(
                merchant_id=merchant.pk, actor=Actor.from_request(request)
            )
        self.message_user(request, f"Rotated the webhook secret of {queryset.count()} merchant(s).")


def _status_action(service, verb: str):
    def action(modeladmin, request: HttpRequest, queryset: QuerySet[Account]) -> None:
        done = 0
        for account in queryset:
            try:
                service(
                    account_id=account.pk, actor=Actor.from_request(request), reason="admin action"
                )
                done += 1
            except LedgerError as error:
                modeladmin.message_user(
                    request, f"{account.number}: {error.detail}", messages.ERROR
                )
        if done:
            modeladmin.message_user(request, f"{verb} {done} account(s).")

    action.__name__ = f"{verb.lower()}_accounts"
    return admin.action(description=f"{verb} selected accounts")(action)


@admin.register(Account)
class AccountAdmin(admin.ModelAdmin):
    list_display = (
        "number",
        "name",
        "merchant",
        "currency",
        "kind",
        "status",
        "balance_display",
        "held_display",
        "available_display",
    )
    list_filter = ("status", "currency", "kind", ("created_at", admin.DateFieldListFilter))
    search_fields = ("=number", "=id", "name", "merchant__name")
    list_select_related = ("merchant",)
    readonly_fields = (
        "id",
        "number",
        "currency",
        "merchant",
        "kind",
        "status",
        "balance_display",
        "held_display",
        "available_display",
        "created_at",
        "updated_at",
    )
    fields = ("name", *readonly_fields)
    show_full_result_count = False
    actions = [
        _status_action(services.account_freeze, "Froze"),
        _status_action(services.account_unfreeze, "Unfroze"),
        _status_action(services.account_close, "Closed"),
    ]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    balance_display = money_field("balance")
    held_display = money_field("held")
    available_display = money_field("available", sortable=False)

    def save_model(self, request, obj, form, change):
        # Only the holder's name is editable: through the service, which records a
        # change of name in the audit trail and nothing when the name stayed the same.
        services.account_rename(account_id=obj.pk, name=obj.name, actor=Actor.from_request(request))

    def log_change(self, request, obj, message):
        # Django's own history row: only when a field changed, like the audit trail.
        if message:
            return super().log_change(request, obj, message)
        return None


class MoneyInline(ReadOnlyInline):
    """A read-only inline of rows that carry an amount and its currency."""

    amount_display = money_field("amount", sortable=False)


class LedgerEntryInline(MoneyInline):
    model = LedgerEntry
    fields = ("account", "amount_display", "balance_after_display", "created_at")
    balance_after_display = money_field("balance_after", sortable=False)


@admin.register(LedgerTransaction)
class LedgerTransactionAdmin(ReadOnlyAdmin):
    list_display = ("id", "kind", "amount_display", "reference", "created_at")
    list_filter = ("kind", "currency", ("created_at", admin.DateFieldListFilter))
    search_fields = ("=id", "=reference", "entries__account__number")
    date_hierarchy = "created_at"
    inlines = [LedgerEntryInline]
    fields = ("id", "kind", "amount_display", "reference", "description", "reverses", "created_at")
    readonly_fields = fields
    amount_display = money_field("amount")


@admin.register(LedgerEntry)
class LedgerEntryAdmin(ReadOnlyAdmin):
    list_display = (
        "id",
        "transaction_id",
        "account",
        "amount_display",
        "balance_after_display",
        "created_at",
    )
    list_filter = ("currency", ("created_at", admin.DateFieldListFilter))
    search_fields = ("=transaction__id", "=account__number", "=transaction__reference")
    list_select_related = ("account",)
    raw_id_fields = ("transaction", "account")
    fields = (
        "id",
        "transaction",
        "account",
        "amount_display",
        "balance_after_display",
        "created_at",
    )
    readonly_fields = fields
    amount_display = money_field("amount")
    balance_after_display = money_field("balance_after", sortable=False)


@admin.register(Hold)
class HoldAdmin(ReadOnlyAdmin):
    list_display = (
        "id",
        "account",
        "amount_display",
        "status",
        "reference",
        "created_at",
    )
    list_filter = ("status", "currency", ("created_at", admin.DateFieldListFilter))
    search_fields = ("=id", "=account__number", "=reference")
    list_select_related = ("account",)
    fields = (
        "id",
        "account",
        "amount_display",
        "captured_amount_display",
        "status",
        "capture_transaction",
        "reference",
        "created_at",
        "closed_at",
    )
    readonly_fields = fields
    amount_display = money_field("amount")
    captured_amount_display = money_field("captured_amount", description="captured")
