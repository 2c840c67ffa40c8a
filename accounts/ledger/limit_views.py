"""The dashboard's instant limits of an account (a panel of the account page): a member of
staff asks for new limits for the merchant, signed; a second person confirms a higher one,
signed (accounts/ledger/limits.py, through the gate)."""

from __future__ import annotations

from uuid import UUID

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.urls import reverse
from django.views.decorators.http import require_POST

from accounts.identity.audit import Actor
from accounts.identity.decorators import operator_required
from accounts.ledger import limits
from accounts.ledger.errors import LedgerError
from accounts.ledger.forms import InstantLimitDecisionForm, InstantLimitsForm
from accounts.ledger.models import Account, InstantLimitChange


def _back(account_id: UUID) -> HttpResponse:
    return redirect(reverse("ledger:account_detail", args=[account_id]) + "#instant-limits")


def _errors(form: InstantLimitsForm | InstantLimitDecisionForm) -> str:
    return "; ".join(f"{e}" for errors in form.errors.values() for e in errors)


@require_POST
@operator_required
def instant_limits_request(request: HttpRequest, account_id: UUID) -> HttpResponse:
    account = get_object_or_404(Account, pk=account_id)
    form = InstantLimitsForm(request.POST, currency=account.currency)
    if not form.is_valid():
        messages.error(request, f"The limits were not changed: {_errors(form)}")
        return _back(account.pk)
    try:
        pending = limits.instant_limits_request_signed(
            account_id=account.pk,
            actor=Actor.from_request(request),
            otp_token=form.cleaned_data["otp_token"],
            per_payment=form.cleaned_data["per_payment"],
            per_day=form.cleaned_data["per_day"],
        )
    except LedgerError as error:
        messages.error(request, f"The limits were not changed: {error.detail}")
    else:
        if pending is None:
            messages.success(request, "The instant limits are changed.")
        else:
            messages.success(
                request,
                "A higher limit waits for a second person to confirm it; "
                "any lower one applies now.",
            )
    return _back(account.pk)


@require_POST
@operator_required
def instant_limit_decide(request: HttpRequest, change_id: int) -> HttpResponse:
    change = get_object_or_404(InstantLimitChange, pk=change_id)
    form = InstantLimitDecisionForm(request.POST)
    if not form.is_valid():
        messages.error(request, f"Nothing was decided: {_errors(form)}")
        return _back(change.account_id)
    approve = form.cleaned_data["decision"] == "approve"
    try:
        limits.instant_limit_change_decide(
            change_id=change.pk,
            approve=approve,
            actor=Actor.from_request(request),
            otp_token=form.cleaned_data["otp_token"],
            reason=form.cleaned_data["reason"],
        )
    except LedgerError as error:
        messages.error(request, f"Nothing was decided: {error.detail}")
    else:
        messages.success(
            request, "The higher limit applies now." if approve else "The higher limit is refused."
        )
    return _back(change.account_id)
