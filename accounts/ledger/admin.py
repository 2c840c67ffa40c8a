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

    @admin.display(description="balance", ordering="balance")
    def balance_display(self, obj: Account) -> str:
        return money.to_major(obj.balance, obj.currency)

    @admin.display(description="held", ordering="held")
    def held_display(self, obj: Account) -> str:
        return money.to_major(obj.held, obj.currency)

    @admin.display(description="available")
    def available_display(self, obj: Account) -> str:
        return money.to_major(obj.available, obj.currency)

    def save_model(self, request, obj, form, change):
        # Only the holder's name is editable; record it in the audit trail.
        from accounts.identity import audit

        before = {"name": Account.objects.get(pk=obj.pk).name}
        super().save_model(request, obj, form, change)
        audit.record(
            actor=Actor.from_request(request),
            action="account.rename",
            target=obj,
            before=before,
            after={"name": obj.name},
        )


class MoneyInline(ReadOnlyInline):
    """A read-only inline of rows that carry an amount and its currency."""

    @admin.display(description="amount")
    def amount_display(self, obj) -> str:
        return money.to_major(obj.amount, obj.currency)


class LedgerEntryInline(MoneyInline):
    model = LedgerEntry
    fields = ("account", "amount_display", "balance_after", "created_at")


@admin.register(LedgerTransaction)
class LedgerTransactionAdmin(ReadOnlyAdmin):
    list_display = ("id", "kind", "amount_display", "currency", "reference", "created_at")
    list_filter = ("kind", "currency", ("created_at", admin.DateFieldListFilter))
    search_fields = ("=id", "=reference", "entries__account__number")
    date_hierarchy = "created_at"
    inlines = [LedgerEntryInline]

    @admin.display(description="amount", ordering="amount")
    def amount_display(self, obj: LedgerTransaction) -> str:
        return money.to_major(obj.amount, obj.currency)


@admin.register(LedgerEntry)
class LedgerEntryAdmin(ReadOnlyAdmin):
    list_display = (
        "id",
        "transaction_id",
        "account",
        "amount_display",
        "currency",
        "balance_after_display",
        "created_at",
    )
    list_filter = ("currency", ("created_at", admin.DateFieldListFilter))
    search_fields = ("=transaction__id", "=account__number", "=transaction__reference")
    list_select_related = ("account",)
    raw_id_fields = ("transaction", "account")

    @admin.display(description="amount", ordering="amount")
    def amount_display(self, obj: LedgerEntry) -> str:
        return money.to_major(obj.amount, obj.currency)

    @admin.display(description="balance after")
    def balance_after_display(self, obj: LedgerEntry) -> str:
        return money.to_major(obj.balance_after, obj.currency)


@admin.register(Hold)
class HoldAdmin(ReadOnlyAdmin):
    list_display = (
        "id",
        "account",
        "amount_display",
        "currency",
        "status",
        "reference",
        "created_at",
    )
    list_filter = ("status", "currency", ("created_at", admin.DateFieldListFilter))
    search_fields = ("=id", "=account__number", "=reference")
    list_select_related = ("account",)

    @admin.display(description="amount", ordering="amount")
    def amount_display(self, obj: Hold) -> str:
        return money.to_major(obj.amount, obj.currency)
