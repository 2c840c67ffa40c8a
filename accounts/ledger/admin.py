"""Back-office screens for merchants, accounts and the ledger.

Money is read-only here: balances and entries cannot be edited, added or
deleted; account status changes go through admin actions that call services.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from django.contrib import admin, messages
from django.contrib.admin.options import IncorrectLookupParameters
from django.db.models import Q, QuerySet
from django.http import HttpRequest

from accounts.identity.audit import Actor
from accounts.ledger import currency as iso4217
from accounts.ledger import money, services
from accounts.ledger.errors import LedgerError
from accounts.ledger.models import Account, Hold, LedgerEntry, LedgerTransaction, Merchant
from common.admin import IndexedSearchMixin, ReadOnlyAdmin, ReadOnlyInline
from common.admin_filters import InputsFilter, date_range_filter
from common.admin_paginator import LargeTablePaginator


class CurrencyFilter(admin.SimpleListFilter):
    """The currencies the hub's accounts hold (a small table), not a DISTINCT over
    millions of rows as the admin's default filter of a plain column would run."""

    title = "currency"
    parameter_name = "currency"

    def lookups(self, request, model_admin):
        codes = Account.objects.order_by("currency").values_list("currency", flat=True).distinct()
        return [(code, code) for code in codes]

    def queryset(self, request, queryset):
        value = self.value()
        if not value:
            return queryset
        if not iso4217.is_known(value):
            raise IncorrectLookupParameters(f"unknown currency {value!r}")
        return queryset.filter(currency=value)


def _amount(text: str) -> Decimal:
    try:
        value = Decimal(text.replace(",", ""))
    except InvalidOperation:
        raise IncorrectLookupParameters(f"{text!r} is not an amount such as 12.50") from None
    if not value.is_finite() or value < 0:
        raise IncorrectLookupParameters(f"{text!r} is not an amount such as 12.50")
    return value


def amount_range_filter(field: str = "amount") -> type[InputsFilter]:
    """Amounts from/to in major units (12.50), in the currency filtered on, else in each
    currency's own minor units (the amount index serves it)."""

    class AmountRangeFilter(InputsFilter):
        title = "amount (major units)"
        inputs = ((f"{field}_min", "from", "text"), (f"{field}_max", "to", "text"))
        help_text = "12.50; with a currency chosen, in that currency, else in any."

        def filter(self, queryset, values):
            low = _amount(values[f"{field}_min"]) if f"{field}_min" in values else None
            high = _amount(values[f"{field}_max"]) if f"{field}_max" in values else None
            currency = self.request.GET.get("currency", "")
            currency = currency if iso4217.is_known(currency) else ""
            return queryset.filter(money.amount_range(low, high, currency, field=field))

    AmountRangeFilter.__name__ = f"AmountRangeFilter_{field}"
    return AmountRangeFilter


def account_number_filter(*fields: str) -> type[InputsFilter]:
    """Rows of the account with this number (exact, through the unique index) in any of
    `fields` (foreign keys to Account)."""

    class AccountNumberFilter(InputsFilter):
        title = "account number"
        inputs = (("account_number", "number", "text"),)

        def filter(self, queryset, values):
            number = values["account_number"]
            ids = list(
                Account.objects.filter(number__in={number, number.upper()}).values_list(
                    "id", flat=True
                )
            )
            match = Q()
            for field in fields:
                match |= Q(**{f"{field}_id__in": ids})
            return queryset.filter(match) if ids else queryset.none()

    return AccountNumberFilter


def account_ids(term: str) -> list:
    """The account numbered `term` (as typed or in capitals), through the unique index."""
    if len(term) > 34:
        return []
    return list(
        Account.objects.filter(number__in={term, term.upper()}).values_list("id", flat=True)
    )


def ledger_transaction_id(term: str) -> int | None:
    """`123` or `LT123`, as pages show a transaction, or None."""
    digits = term.upper().removeprefix("LT")
    return int(digits) if digits.isdigit() and len(digits) < 19 else None


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
    list_display = ("name", "id", "webhook_url", "vop_batch_opt_out", "created_at")
    search_fields = ("name", "=id")
    search_help_text = "Any part of the merchant's name (any case), or its id."
    # The VoP opt-out changes only through its actions (audited as such).
    readonly_fields = ("id", "vop_batch_opt_out", "created_at")
    exclude = ("webhook_secret",)
    actions = ["rotate_webhook_secret", "vop_batch_opt_out", "vop_batch_opt_in"]

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def save_model(self, request: HttpRequest, obj: Merchant, form, change: bool) -> None:
        # A merchant's approval rule is a four-eyes control: who changed it is audited.
        services.merchant_save(merchant=obj, actor=Actor.from_request(request))

    @admin.action(description="Rotate the webhook secret")
    def rotate_webhook_secret(self, request: HttpRequest, queryset: QuerySet[Merchant]) -> None:
        for merchant in queryset:
            services.merchant_rotate_webhook_secret(
                merchant_id=merchant.pk, actor=Actor.from_request(request)
            )
        self.message_user(request, f"Rotated the webhook secret of {queryset.count()} merchant(s).")

    @admin.action(description="Opt out of Verification of Payee for batches")
    def vop_batch_opt_out(self, request: HttpRequest, queryset: QuerySet[Merchant]) -> None:
        self._vop_batch(request, queryset, opt_out=True)

    @admin.action(description="Opt back in to Verification of Payee for batches")
    def vop_batch_opt_in(self, request: HttpRequest, queryset: QuerySet[Merchant]) -> None:
        self._vop_batch(request, queryset, opt_out=False)

    def _vop_batch(self, request: HttpRequest, queryset: QuerySet[Merchant], opt_out: bool):
        for merchant in queryset:
            services.merchant_set_vop_batch_opt_out(
                merchant_id=merchant.pk, opt_out=opt_out, actor=Actor.from_request(request)
            )
        verb = "opted out of" if opt_out else "opted back in to"
        self.message_user(
            request, f"{queryset.count()} merchant(s) {verb} Verification of Payee for batches."
        )


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
    paginator = LargeTablePaginator
    search_help_text = (
        "An account number (exact) or the start of one, an account id, or a part of the "
        "holder's or the merchant's name."
    )
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
    list_filter = ("status", CurrencyFilter, "kind", ("created_at", admin.DateFieldListFilter))
    search_fields = ("^number", "=id", "name", "merchant__name")
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
class LedgerTransactionAdmin(IndexedSearchMixin, ReadOnlyAdmin):
    list_display = ("id", "kind", "amount_display", "reference", "created_at")
    list_filter = (
        "kind",
        CurrencyFilter,
        ("created_at", admin.DateFieldListFilter),
        date_range_filter("created_at", "created (days)"),
    )
    search_fields = ("=id", "=reference")
    search_help_text = (
        "A transaction id (123 or LT123), its exact reference, or an account number "
        "(the transactions with an entry on that account)."
    )
    inlines = [LedgerEntryInline]
    fields = ("id", "kind", "amount_display", "reference", "description", "reverses", "created_at")
    readonly_fields = fields
    amount_display = money_field("amount")

    def search_condition(self, term: str) -> Q | None:
        match = Q(reference=term)
        txn_id = ledger_transaction_id(term)
        if txn_id is not None:
            match |= Q(pk=txn_id)
        accounts = account_ids(term)
        if accounts:
            match |= Q(
                pk__in=LedgerEntry.objects.filter(account_id__in=accounts).values("transaction_id")
            )
        return match


@admin.register(LedgerEntry)
class LedgerEntryAdmin(IndexedSearchMixin, ReadOnlyAdmin):
    list_display = (
        "id",
        "transaction_id",
        "account",
        "amount_display",
        "balance_after_display",
        "created_at",
    )
    # No currency filter: an account's entries are all in its currency (filter by account).
    list_filter = (
        account_number_filter("account"),
        ("created_at", admin.DateFieldListFilter),
        date_range_filter("created_at", "created (days)"),
    )
    search_fields = ("=transaction__id", "=account__number", "=transaction__reference")
    search_help_text = (
        "An account number (exact: its entries), a transaction id (123 or LT123), or a "
        "transaction's exact reference."
    )
    list_select_related = ("account",)
    autocomplete_fields = ("transaction", "account")
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

    def search_condition(self, term: str) -> Q | None:
        match = Q(transaction__in=LedgerTransaction.objects.filter(reference=term).values("pk"))
        txn_id = ledger_transaction_id(term)
        if txn_id is not None:
            match |= Q(transaction_id=txn_id)
        accounts = account_ids(term)
        if accounts:
            match |= Q(account_id__in=accounts)
        return match


@admin.register(Hold)
class HoldAdmin(IndexedSearchMixin, ReadOnlyAdmin):
    list_display = (
        "id",
        "account",
        "amount_display",
        "status",
        "reference",
        "created_at",
    )
    list_filter = ("status", CurrencyFilter, ("created_at", admin.DateFieldListFilter))
    search_fields = ("=id", "=account__number", "=reference")
    search_help_text = (
        "A hold id, an account number (exact: its holds), or a hold's exact reference."
    )
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

    def search_condition(self, term: str) -> Q | None:
        match = Q(reference=term)
        if term.isdigit() and len(term) < 19:
            match |= Q(pk=int(term))
        accounts = account_ids(term)
        if accounts:
            match |= Q(account_id__in=accounts)
        return match
