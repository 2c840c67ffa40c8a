"""Back-office screens for payments, refunds, API keys and webhook deliveries.

Money fields are read-only; nothing is added or edited by hand. API keys are
created and revoked through actions that call services.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import Q
from django.http import HttpRequest
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html
from rest_framework_api_key.models import APIKey

from accounts.identity import audit
from accounts.identity.actions import AuditAction
from accounts.identity.audit import Actor
from accounts.ledger import money
from accounts.ledger.admin import (
    CurrencyFilter,
    MoneyInline,
    account_number_filter,
    amount_range_filter,
    money_field,
)
from accounts.ledger.errors import LedgerError
from accounts.models import Merchant
from common.admin import IndexedSearchMixin, ReadOnlyAdmin, ReadOnlyInline
from common.admin_filters import date_range_filter
from payments import api_keys, backoffice, selectors, services, story
from payments.forms import BackOfficeActionForm
from payments.models import (
    BackOfficeAction,
    MerchantAPIKey,
    Payment,
    Refund,
    WebhookAttempt,
    WebhookDelivery,
)

# The library's own key model is unused: keys belong to merchants (MerchantAPIKey).
if admin.site.is_registered(APIKey):
    admin.site.unregister(APIKey)


class RefundInline(MoneyInline):
    model = Refund
    fields = ("id", "amount_display", "reason", "ledger_transaction", "created_at")


class FailureCodeFilter(admin.SimpleListFilter):
    """The refusals a payment can record (a fixed list, not a DISTINCT over every payment)."""

    title = "failure code"
    parameter_name = "failure_code"

    def lookups(self, request, model_admin):
        return [(error.code, error.code) for error in services.ACCOUNT_STATE_FAILURES]

    def queryset(self, request, queryset):
        if not self.value():
            return queryset
        # Both conditions, so the planner sees the partial index's predicate is met.
        return queryset.filter(failure_code=self.value()).exclude(failure_code="")


@admin.register(Payment)
class PaymentAdmin(IndexedSearchMixin, ReadOnlyAdmin):
    # Fits a 1,280 px laptop: the id cut to its first 8 characters (the whole of it in the
    # title and the page it links to; the quick search finds a payment by any part of it),
    # the reference cut too, so Status, Reference and Failure stay on screen.
    list_display = (
        "short_id",
        "created",
        "merchant",
        "debtor_number",
        "creditor_number",
        "amount_display",
        "status",
        "short_reference",
        "failure_code",
    )
    list_display_links = ("short_id",)

    class Media:
        css = {"all": ("css/admin-desk.css",)}

    list_filter = (
        "status",
        CurrencyFilter,
        "merchant",
        ("created_at", admin.DateFieldListFilter),
        date_range_filter("created_at", "created (days)"),
        amount_range_filter(),
        account_number_filter("debtor_account", "creditor_account"),
        FailureCodeFilter,
    )
    # Documentation only: payment_quick_search (get_search_results) decides.
    search_fields = ("id", "reference", "end_to_end_id")
    search_help_text = selectors.QUICK_SEARCH_HELP
    list_select_related = ("merchant", "debtor_account", "creditor_account")
    # Foreign keys are links on these read-only pages; a form would search, never list them.
    autocomplete_fields = ("merchant", "debtor_account", "creditor_account", "hold", "api_key")
    inlines = [RefundInline]
    change_form_template = "admin/payments/payment/change_form.html"

    @admin.display(description="id", ordering="id")
    def short_id(self, obj: Payment) -> str:
        return format_html('<code class="short-id" title="{}">{}…</code>', obj.pk, str(obj.pk)[:8])

    @admin.display(description="created", ordering="created_at")
    def created(self, obj: Payment) -> str:
        return format_html(
            '<span class="nowrap">{}</span>',
            timezone.localtime(obj.created_at).strftime("%Y-%m-%d %H:%M"),
        )

    @admin.display(description="reference", ordering="reference")
    def short_reference(self, obj: Payment) -> str:
        text = obj.reference or "—"
        if len(text) <= 32:
            return text
        return format_html('<span title="{}">{}…</span>', text, text[:31])

    def get_fields(self, request, obj=None):
        """The authorization's expiry only while it can expire (or did): a refunded
        payment's "Expires at" only confused the reader."""
        fields = super().get_fields(request, obj)
        if obj is not None and obj.status not in (
            Payment.Status.AUTHORIZED,
            Payment.Status.EXPIRED,
        ):
            return [name for name in fields if name != "expires_at"]
        return fields

    @admin.display(description="debtor", ordering="debtor_account__number")
    def debtor_number(self, obj: Payment) -> str:
        return obj.debtor_account.number

    @admin.display(description="creditor", ordering="creditor_account__number")
    def creditor_number(self, obj: Payment) -> str:
        return obj.creditor_account.number

    fields = (
        "id",
        "status",
        "merchant",
        "debtor_account",
        "creditor_account",
        "amount_display",
        "captured_amount_display",
        "refunded_amount_display",
        "refundable_display",
        "reference",
        "end_to_end_id",
        "authorization_code",
        "expires_at",
        "failure_code",
        "failure_message",
        "hold",
        "ledger_transaction",
        "api_key",
        "batch_id",
        "batch_row",
        "created_at",
        "updated_at",
    )
    readonly_fields = fields
    amount_display = money_field("amount")

    captured_amount_display = money_field("captured_amount", description="captured")
    refunded_amount_display = money_field("refunded_amount", description="refunded")
    refundable_display = money_field(
        "refundable_amount", description="left to refund", sortable=False
    )

    def changelist_view(self, request, extra_context=None):
        # A search or a filter in the back office is a look at customers' payments: audited.
        asked = {key: value for key, value in request.GET.items() if value and key != "p"}
        if asked:
            audit.record(
                actor=Actor.from_request(request),
                action=AuditAction.PAYMENTS_ADMIN_SEARCH,
                target=None,
                filters=asked,
            )
        return super().changelist_view(request, extra_context)

    def search_condition(self, term: str) -> Q | None:
        return selectors.payment_quick_search(term)

    def has_act_permission(self, request, obj=None) -> bool:
        # Refunds, voids and reversals go through back-office actions; the page stays read-only.
        return request.user.has_perm("payments.change_payment")

    def get_urls(self):
        act = path(
            "<uuid:payment_id>/act/",
            self.admin_site.admin_view(self.act_view),
            name="payments_payment_act",
        )
        return [act, *super().get_urls()]

    def act_view(self, request: HttpRequest, payment_id):
        """A refund, void, reversal or webhook retry asked from the admin, with a reason:
        the same back-office action as on the dashboard's payment page."""
        if not self.has_act_permission(request):
            raise PermissionDenied
        payment = get_object_or_404(Payment, pk=payment_id)
        change_url = reverse("admin:payments_payment_change", args=[payment.pk])
        if request.method == "POST":
            form = BackOfficeActionForm(request.POST, payment=payment)
            if form.is_valid():
                backoffice.request_action(request, payment, form.cleaned_data)
                return redirect(change_url)
        else:
            form = BackOfficeActionForm(
                initial={
                    "kind": request.GET.get("kind", BackOfficeAction.Kind.REFUND),
                    "delivery": request.GET.get("delivery"),
                },
                payment=payment,
            )
        kind = form["kind"].value()
        return TemplateResponse(
            request,
            "admin/payments/payment/act.html",
            {
                **self.admin_site.each_context(request),
                "opts": self.model._meta,
                "original": payment,
                "title": f"{BackOfficeAction.Kind(kind).label if kind in BackOfficeAction.Kind.values else 'Action'}: payment {payment.pk}",
                "form": form,
                "kind": kind,
                "change_url": change_url,
                "limit": settings.BACKOFFICE_SECOND_APPROVAL_ABOVE,
                "refundable": money.display(payment.refundable_amount, payment.currency),
            },
        )

    def change_view(self, request, object_id, form_url="", extra_context=None):
        payment = Payment.objects.filter(pk=object_id).first()
        extra = {
            "may_act": self.has_act_permission(request),
            "timeline": story.payment_timeline(payment=payment) if payment else [],
            "failed_deliveries": list(
                WebhookDelivery.objects.filter(
                    payment_id=object_id, status=WebhookDelivery.Status.FAILED
                )
            )
            if payment
            else [],
        }
        return super().change_view(request, object_id, form_url, {**extra, **(extra_context or {})})


@admin.register(Refund)
class RefundAdmin(IndexedSearchMixin, ReadOnlyAdmin):
    list_display = ("id", "payment", "amount_display", "reason", "created_at")
    list_filter = (CurrencyFilter, ("created_at", admin.DateFieldListFilter))
    search_fields = ("=id", "=payment__id", "=payment__reference")
    search_help_text = (
        "A refund id or its first 8+ characters, or anything that finds its payment: "
        + selectors.QUICK_SEARCH_HELP[0].lower()
        + selectors.QUICK_SEARCH_HELP[1:]
    )
    list_select_related = ("payment",)
    autocomplete_fields = ("payment", "ledger_transaction")
    fields = ("id", "payment", "amount_display", "reason", "ledger_transaction", "created_at")
    readonly_fields = fields
    amount_display = money_field("amount")

    def search_condition(self, term: str) -> Q | None:
        match = Q()
        refund = selectors.id_prefix_q(term)
        if refund is not None:
            match |= refund
        payments = selectors.payment_quick_search(term)
        if payments is not None:
            # Looked up first (the payments' own indexes), then joined by key.
            found = Payment.objects.filter(payments).order_by().values_list("pk", flat=True)
            match |= Q(payment_id__in=list(found[:1000]))
        return match or None


@admin.register(MerchantAPIKey)
class MerchantAPIKeyAdmin(admin.ModelAdmin):
    list_display = (
        "prefix",
        "name",
        "merchant",
        "created",
        "approval",
        "last_used_at",
        "expiry_date",
        "revoked",
    )
    list_filter = (
        "revoked",
        ("approved_at", admin.EmptyFieldListFilter),
        ("created", admin.DateFieldListFilter),
    )
    search_fields = ("=prefix", "name", "merchant__name", "=merchant__id")
    search_help_text = "A key's prefix (exact), part of its label or of its merchant's name."
    list_select_related = ("merchant",)
    fields = (
        "merchant",
        "name",
        "expiry_date",
        "prefix",
        "created",
        "created_by",
        "approved_by",
        "approved_at",
        "last_used_at",
        "revoked",
    )
    readonly_fields = (
        "prefix",
        "created",
        "created_by",
        "approved_by",
        "approved_at",
        "last_used_at",
        "revoked",
    )
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
        api_key, key = api_keys.api_key_create(
            merchant=obj.merchant,
            name=obj.name,
            expiry_date=obj.expiry_date,
            actor=Actor.from_request(request),
        )
        obj.pk = api_key.pk
        obj.prefix = api_key.prefix
        self.message_user(
            request,
            f"The API key is {key} — copy it now: it is stored hashed and will not be shown again."
            " It works once another admin approves it (a key moves the merchant's money).",
            messages.WARNING,
        )

    @admin.display(description="approval")
    def approval(self, api_key: MerchantAPIKey) -> str:
        if api_key.approved_at is not None:
            return f"approved {api_key.approved_at:%Y-%m-%d %H:%M}"
        if api_key.revoked:
            return "—"
        url = reverse("admin:payments_merchantapikey_approve", args=[api_key.pk])
        return format_html('<a href="{}">Approve…</a>', url)

    def get_urls(self):
        approve = path(
            "<int:key_id>/approve/",
            self.admin_site.admin_view(self.approve_view),
            name="payments_merchantapikey_approve",
        )
        return [approve, *super().get_urls()]

    def approve_view(self, request: HttpRequest, key_id: int):
        api_key = get_object_or_404(MerchantAPIKey, pk=key_id)
        if request.method == "POST":
            try:
                api_keys.api_key_approve(
                    prefix=api_key.prefix,
                    actor=Actor.from_request(request),
                    otp_token=request.POST.get("otp_token", ""),
                )
            except LedgerError as error:
                messages.error(request, f"Not approved: {error.detail}.")
            else:
                messages.success(request, f"Approved: the key {api_key.prefix} works now.")
                return redirect("admin:payments_merchantapikey_changelist")
        return TemplateResponse(
            request,
            "admin/payments/merchantapikey/approve.html",
            {**self.admin_site.each_context(request), "api_key": api_key, "title": "Approve a key"},
        )

    @admin.action(description="Revoke the selected keys")
    def revoke_keys(self, request: HttpRequest, queryset) -> None:
        for api_key in queryset:
            api_keys.api_key_revoke(prefix=api_key.prefix, actor=Actor.from_request(request))
        self.message_user(request, f"Revoked {queryset.count()} key(s).")


class WebhookAttemptInline(ReadOnlyInline):
    model = WebhookAttempt
    fields = ("at", "status_code", "error", "duration_ms", "response_excerpt")


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(IndexedSearchMixin, ReadOnlyAdmin):
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
    search_help_text = (
        "A delivery id or its message id (msg_…), a payment id or its first 8+ characters "
        "(its events), or a merchant's id or part of its name."
    )
    list_select_related = ("merchant",)
    autocomplete_fields = ("merchant", "payment")
    inlines = [WebhookAttemptInline]

    def search_condition(self, term: str) -> Q | None:
        text = term.removeprefix("msg_")
        match = Q()
        delivery = selectors.id_prefix_q(text)
        if delivery is not None:
            match |= delivery
        payment = selectors.id_prefix_q(text, "payment_id")
        if payment is not None:
            match |= payment
        merchants = list(
            Merchant.objects.filter(Q(name__icontains=term) | (delivery or Q(pk=None))).values_list(
                "pk", flat=True
            )[:50]
        )
        if merchants:
            match |= Q(merchant_id__in=merchants)
        return match or None


@admin.register(BackOfficeAction)
class BackOfficeActionAdmin(ReadOnlyAdmin):
    """Refunds, voids, reversals and webhook retries asked by the back office; those above
    BACKOFFICE_SECOND_APPROVAL_ABOVE are approved here (or on the dashboard) by another
    approver. Rejections, which need a reason, are made on the dashboard's queue."""

    list_display = (
        "requested_at",
        "kind",
        "status",
        "payment",
        "amount_display",
        "reason",
        "requested_by",
        "decided_by",
        "outcome",
    )
    list_filter = ("status", "kind", ("requested_at", admin.DateFieldListFilter))
    list_select_related = ("payment", "requested_by", "decided_by")
    search_fields = ("=id", "=payment__id")
    search_help_text = "An action's id or its payment's id."
    autocomplete_fields = ("payment", "webhook_delivery", "requested_by", "decided_by")
    fields = (
        "id",
        "kind",
        "status",
        "payment",
        "webhook_delivery",
        "amount_display",
        "reason",
        "requested_by",
        "requested_at",
        "decided_by",
        "decided_at",
        "decision_reason",
        "outcome",
    )
    readonly_fields = fields
    # No bulk "approve": every decision is signed with its own fresh code, on the queue
    # (/payments/actions/) or the payment's page, through the one gate.
    actions = None
    amount_display = money_field("amount")
