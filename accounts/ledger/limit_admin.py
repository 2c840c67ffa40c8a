"""The back office's screen of instant limit changes: read-only, with a Decide… form that
confirms or rejects a pending higher limit through the gate (accounts/ledger/limits.py)."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html

from accounts.identity.audit import Actor
from accounts.ledger import limits, money
from accounts.ledger.errors import LedgerError
from accounts.ledger.models import InstantLimitChange
from common.admin import ReadOnlyAdmin


class DecideForm(forms.Form):
    decision = forms.ChoiceField(
        choices=[("approve", "Confirm: the higher limit applies"), ("reject", "Reject")]
    )
    reason = forms.CharField(
        required=False,
        max_length=500,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="Required to reject: it goes in the audit trail.",
    )
    otp_token = forms.CharField(
        label="Authenticator code",
        max_length=10,
        help_text="A fresh code of your authenticator app: the decision is signed with it.",
        widget=forms.TextInput(attrs={"autocomplete": "one-time-code", "inputmode": "numeric"}),
    )


def _limit(change: InstantLimitChange, sets: bool, value: int | None) -> str:
    if not sets:
        return "unchanged"
    return "none" if value is None else money.display(value, change.account.currency)


@admin.register(InstantLimitChange)
class InstantLimitChangeAdmin(ReadOnlyAdmin):
    list_display = (
        "id",
        "requested_at",
        "account",
        "per_payment_shown",
        "per_day_shown",
        "status",
        "requested_via",
        "decided_by",
        "decide_link",
    )
    list_filter = ("status",)
    search_fields = ("account__number", "requested_via")
    list_select_related = ("account", "decided_by")
    fields = (
        "account",
        "per_payment_shown",
        "per_day_shown",
        "status",
        "requested_by",
        "requested_by_user",
        "requested_via",
        "requested_at",
        "decided_by",
        "decided_by_user",
        "decided_at",
        "decision",
        "reason",
    )
    readonly_fields = fields

    @admin.display(description="per payment")
    def per_payment_shown(self, change: InstantLimitChange) -> str:
        return _limit(change, change.sets_per_payment, change.per_payment)

    @admin.display(description="per day")
    def per_day_shown(self, change: InstantLimitChange) -> str:
        return _limit(change, change.sets_per_day, change.per_day)

    @admin.display(description="")
    def decide_link(self, change: InstantLimitChange) -> str:
        if change.status != InstantLimitChange.Status.PENDING:
            return ""
        url = reverse("admin:accounts_instantlimitchange_decide", args=[change.pk])
        return format_html('<a class="button" href="{}">Decide…</a>', url)

    def get_urls(self) -> list[Any]:
        decide = path(
            "<int:change_id>/decide/",
            self.admin_site.admin_view(self.decide_view),
            name="accounts_instantlimitchange_decide",
        )
        return [decide, *super().get_urls()]

    def decide_view(self, request: HttpRequest, change_id: int) -> HttpResponse:
        if not self.has_view_permission(request):
            raise PermissionDenied
        change = get_object_or_404(
            InstantLimitChange.objects.select_related("account"), pk=change_id
        )
        back = reverse("admin:accounts_instantlimitchange_changelist")
        form = DecideForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            try:
                limits.instant_limit_change_decide(
                    change_id=change.pk,
                    approve=form.cleaned_data["decision"] == "approve",
                    actor=Actor.from_request(request),
                    otp_token=form.cleaned_data["otp_token"],
                    reason=form.cleaned_data["reason"],
                )
            except LedgerError as error:
                form.add_error(None, error.detail)
            else:
                change.refresh_from_db()
                self.message_user(
                    request, f"Instant limits of {change.account}: {change.get_status_display()}."
                )
                return redirect(back)
        return TemplateResponse(
            request,
            "admin/compliance/form.html",
            {
                **self.admin_site.each_context(request),
                "opts": self.model._meta,
                "title": f"Decide the instant limits of {change.account}",
                "intro": (
                    f"Asked by {change.requested_via} on {change.requested_at:%Y-%m-%d %H:%M}: "
                    f"per payment {self.per_payment_shown(change)}, "
                    f"per day {self.per_day_shown(change)}. Four eyes: whoever asked (or made "
                    "the API key that asked) may not decide."
                ),
                "form": form,
                "submit": "Decide",
                "back_url": back,
            },
        )
