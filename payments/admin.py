"""Back-office screens for payments, refunds, API keys and webhook deliveries.

Money fields are read-only; nothing is added or edited by hand. API keys are
created and revoked through actions that call services.
"""

from __future__ import annotations

from django.contrib import admin, messages
from django.http import HttpRequest
from rest_framework_api_key.models import APIKey

from accounts.identity.audit import Actor
from accounts.ledger import money
from accounts.ledger.admin import MoneyInline
from accounts.ledger.errors import LedgerError
from common.admin import ReadOnlyAdmin, ReadOnlyInline
from payments import services
from payments.models import MerchantAPIKey, Payment, Refund, WebhookAttempt, WebhookDelivery

# The library's own key model is unused: keys belong to merchants (MerchantAPIKey).
if admin.site.is_registered(APIKey):
    admin.site.unregister(APIKey)


class RefundInline(MoneyInline):
    model = Refund
    fields = ("id", "amount_display", "reason", "ledger_transaction", "created_at")


@admin.register(Payment)
class PaymentAdmin(ReadOnlyAdmin):
    list_display = (
        "id",
        "created_at",
        "merchant",
        "debtor_number",
        "creditor_number",
        "amount_display",
        "currency",
        "status",
        "reference",
        "failure_code",
    )
    list_filter = ("status", "currency", ("created_at", admin.DateFieldListFilter), "failure_code")
    search_fields = (
        "=id",
        "=reference",
        "=end_to_end_id",
        "=authorization_code",
        "=debtor_account__number",
        "=creditor_account__number",
        "=batch_id",
    )
    list_select_related = ("merchant", "debtor_account", "creditor_account")
    date_hierarchy = "created_at"
    inlines = [RefundInline]
    actions = ["void_authorizations"]

    @admin.display(description="debtor", ordering="debtor_account__number")
    def debtor_number(self, obj: Payment) -> str:
        return obj.debtor_account.number

    @admin.display(description="creditor", ordering="creditor_account__number")
    def creditor_number(self, obj: Payment) -> str:
        return obj.creditor_account.number

    @admin.display(description="amount", ordering="amount")
    def amount_display(self, obj: Payment) -> str:
        return money.to_major(obj.amount, obj.currency)

    def get_search_results(self, request, queryset, search_term):
        # An amount pasted as "12.50" matches payments of that amount in any currency.
        queryset, may_have_duplicates = super().get_search_results(request, queryset, search_term)
        amount_match = money.amount_lookup(search_term)
        if amount_match is not None:
            queryset |= self.model.objects.filter(amount_match)
        return queryset, may_have_duplicates

    def has_change_permission(self, request, obj=None) -> bool:
        # Needed for the action below; every field stays read-only.
        return request.user.has_perm("payments.change_payment")

    def get_readonly_fields(self, request, obj=None):
        return [field.name for field in self.model._meta.fields]

    @admin.action(description="Void the selected authorizations (release their holds)")
    def void_authorizations(self, request: HttpRequest, queryset) -> None:
        from accounts.identity import audit

        for payment in queryset:
            try:
                services.payment_void(payment_id=payment.pk)
                audit.record(
                    actor=Actor.from_request(request), action="payment.void", target=payment
                )
            except LedgerError as error:
                self.message_user(request, f"{payment.pk}: {error.detail}", messages.ERROR)


@admin.register(Refund)
class RefundAdmin(ReadOnlyAdmin):
    list_display = ("id", "payment", "amount_display", "currency", "reason", "created_at")
    list_filter = ("currency", ("created_at", admin.DateFieldListFilter))
    search_fields = ("=id", "=payment__id", "=payment__reference")
    raw_id_fields = ("payment", "ledger_transaction")

    @admin.display(description="amount", ordering="amount")
    def amount_display(self, obj: Refund) -> str:
        return money.to_major(obj.amount, obj.currency)


@admin.register(MerchantAPIKey)
class MerchantAPIKeyAdmin(admin.ModelAdmin):
    list_display = (
        "prefix",
        "name",
        "merchant",
        "created",
        "last_used_at",
        "expiry_date",
        "revoked",
    )
    list_filter = ("revoked", ("created", admin.DateFieldListFilter))
    search_fields = ("=prefix", "name", "merchant__name", "=merchant__id")
    list_select_related = ("merchant",)
    fields = ("merchant", "name", "expiry_date", "prefix", "created", "last_used_at", "revoked")
    readonly_fields = ("prefix", "created", "last_used_at", "revoked")
    autocomplete_fields = ("merchant",)
    actions = ["revoke_keys"]

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def get_readonly_fields(self, request, obj=None):
        return (*self.readonly_fields, "merchant") if obj else self.readonly_fields

    def save_model(self, request, obj, form, change):
        if change:
            super().save_model(request, obj, form, change)
            return
        api_key, key = services.api_key_create(
            merchant=obj.merchant,
            name=obj.name,
            expiry_date=obj.expiry_date,
            actor=Actor.from_request(request),
        )
        obj.pk = api_key.pk
        obj.prefix = api_key.prefix
        self.message_user(
            request,
            f"The API key is {key} — copy it now: it is stored hashed and will not be shown again.",
            messages.WARNING,
        )

    @admin.action(description="Revoke the selected keys")
    def revoke_keys(self, request: HttpRequest, queryset) -> None:
        for api_key in queryset:
            services.api_key_revoke(prefix=api_key.prefix, actor=Actor.from_request(request))
        self.message_user(request, f"Revoked {queryset.count()} key(s).")


class WebhookAttemptInline(ReadOnlyInline):
    model = WebhookAttempt
    fields = ("at", "status_code", "error", "duration_ms", "response_excerpt")


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(ReadOnlyAdmin):
    list_display = (
        "id",
        "merchant",
        "event_type",
        "status",
        "attempt_count",
        "next_attempt_at",
        "created_at",
    )
    list_filter = ("status", "event_type", ("created_at", admin.DateFieldListFilter))
    search_fields = ("=id", "=payment__id", "=merchant__id", "merchant__name")
    list_select_related = ("merchant",)
    inlines = [WebhookAttemptInline]
