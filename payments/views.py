"""Dashboard pages of payments: the search, its CSV export, and one payment's page.

Operators are the hub's staff: they see every merchant's payments, read only.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from django.conf import settings
from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBase, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST

from accounts.identity import audit
from accounts.identity.actions import AuditAction
from accounts.identity.audit import Actor, audit_events_of
from accounts.identity.decorators import operator_required
from accounts.ledger import money
from common.csvsafe import csv_lines
from common.keyset import keyset_page
from payments import actions, backoffice, external, selectors, story
from payments.forms import BackOfficeActionForm, DecisionForm, PaymentSearchForm
from payments.models import BackOfficeAction, Payment

PAGE_SIZE = 50
NEWEST_FIRST = ("-created_at", "-id")
EXPORT_CHUNK = 2000

# Column of the export -> field it reads (one list, so header and values never drift).
EXPORT_FIELDS = {
    "id": "id",
    "created_at": "created_at",
    "merchant": "merchant__name",
    "debtor_account": "debtor_account__number",
    "creditor_account": "creditor_account__number",
    "amount": "amount",
    "currency": "currency",
    "captured_amount": "captured_amount",
    "refunded_amount": "refunded_amount",
    "status": "status",
    "reference": "reference",
    "end_to_end_id": "end_to_end_id",
    "failure_code": "failure_code",
    "failure_message": "failure_message",
    "batch_id": "batch_id",
    "batch_row": "batch_row",
}
MONEY_COLUMNS = ("amount", "captured_amount", "refunded_amount")


@never_cache
@operator_required
def payment_search(request: HttpRequest) -> HttpResponse:
    form = PaymentSearchForm(request.GET or None)
    page = None
    if not form.is_bound or form.is_valid():
        filters = form.search_kwargs() if form.is_bound else {}
        if form.is_bound:
            # Who looked for which payments, like the export: the back office's reads are audited.
            audit.record(
                actor=Actor.from_request(request),
                action=AuditAction.PAYMENTS_SEARCH,
                target=None,
                filters={key: value for key, value in request.GET.items() if value},
            )
        page = keyset_page(
            selectors.payments_search(**filters),
            ordering=NEWEST_FIRST,
            cursor=request.GET.get("cursor", ""),
            size=PAGE_SIZE,
        )
    return render(
        request,
        "payments/search.html",
        {
            "form": form,
            "page": page,
            "export_max_rows": settings.PAYMENTS_EXPORT_MAX_ROWS,
        },
    )


def _export_row(values: tuple[Any, ...]) -> list[Any]:
    row = dict(zip(EXPORT_FIELDS, values, strict=True))
    row["created_at"] = timezone.localtime(row["created_at"]).isoformat()
    for column in MONEY_COLUMNS:
        # Plain decimal strings ("1234.50"): they start with a digit, so a spreadsheet
        # reads them as numbers and safe_cell leaves them alone.
        row[column] = money.to_major(row[column], row["currency"])
    return list(row.values())


@never_cache
@operator_required
def payment_export(request: HttpRequest) -> HttpResponseBase:
    """The search as CSV, newest first, streamed, at most PAYMENTS_EXPORT_MAX_ROWS rows.

    `X-Export-Truncated: true` says the search had more rows than that.
    """
    form = PaymentSearchForm(request.GET)
    if not form.is_valid():
        problems = [
            f"{form.fields[name].label or name if name in form.fields else name}: {message}"
            for name, messages in form.errors.items()
            for message in messages
        ]
        return HttpResponse(
            "The export's filters are not valid:\n" + "\n".join(problems) + "\n",
            status=400,
            content_type="text/plain; charset=utf-8",
        )
    limit = settings.PAYMENTS_EXPORT_MAX_ROWS
    filters = form.search_kwargs()
    payments = selectors.payments_search(**filters).order_by(*NEWEST_FIRST)
    truncated = bool(list(payments.values_list("pk", flat=True)[limit : limit + 1]))
    rows = payments.values_list(*EXPORT_FIELDS.values())[:limit]
    # Who took which data out of the hub, and with what filters.
    audit.record(
        actor=Actor.from_request(request),
        action=AuditAction.PAYMENTS_EXPORT,
        target=None,
        filters={key: value for key, value in request.GET.items() if key != "cursor" and value},
        max_rows=limit,
        truncated=truncated,
    )
    response = StreamingHttpResponse(
        csv_lines(EXPORT_FIELDS, map(_export_row, rows.iterator(chunk_size=EXPORT_CHUNK))),
        content_type="text/csv; charset=utf-8",
    )
    stamp = timezone.localtime().strftime("%Y%m%d-%H%M%S")
    response["Content-Disposition"] = f'attachment; filename="payments-{stamp}.csv"'
    response["X-Export-Max-Rows"] = str(limit)
    response["X-Export-Truncated"] = "true" if truncated else "false"
    return response


@never_cache
@operator_required
def payment_detail(request: HttpRequest, payment_id: UUID) -> HttpResponse:
    try:
        payment = selectors.payment_for_dashboard(payment_id=payment_id)
    except Payment.DoesNotExist:
        raise Http404("no such payment") from None
    return render(
        request,
        "payments/detail.html",
        {
            "payment": payment,
            "transactions": selectors.payment_ledger_transactions(payment=payment),
            "refunds": list(
                payment.refunds.select_related("ledger_transaction").order_by("created_at")
            ),
            "webhooks": selectors.payment_webhook_deliveries(payment=payment),
            "audit_events": audit_events_of(target=payment),
            "actions": story.payment_backoffice_actions(payment=payment),
            "may_approve": actions.may_approve(request.user),  # type: ignore[arg-type]
            "timeline": story.payment_timeline(payment=payment),
            "limit": settings.BACKOFFICE_SECOND_APPROVAL_ABOVE,
            "answers": _answers_to_the_bank(payment),
        },
    )


def _answers_to_the_bank(payment: Payment) -> dict[str, Any] | None:
    """What the back office may answer the bank a completed transfer came from: a return
    and, while its recall waits, an acceptance or a refusal (the server decides again when
    asked, under the payment's lock); None for anything else."""
    if (
        payment.direction != Payment.Direction.INCOMING
        or not payment.clearing
        or payment.status != Payment.Status.COMPLETED
    ):
        return None
    try:
        desk = external.desk()
    except RuntimeError:  # no clearing network installed
        return None
    return {
        "bank": payment.clearing.get("peer_bic") or payment.debtor_agent,
        "return_reasons": sorted(desk.return_reasons),
        "refusal_reasons": sorted(desk.refusal_reasons),
        "recall": (payment.recall or {}).get("status") == "requested",
    }


# --- Back-office actions from the payment's page ------------------------------------------


@require_POST
@operator_required
def payment_action(request: HttpRequest, payment_id: UUID) -> HttpResponse:
    payment = get_object_or_404(Payment, pk=payment_id)
    form = BackOfficeActionForm(request.POST, payment=payment)
    if form.is_valid():
        backoffice.request_action(request, payment, form.cleaned_data)
    else:
        problems = "; ".join(
            str(message) for messages_ in form.errors.values() for message in messages_
        )
        messages.error(request, f"Not done: {problems}")
    return redirect("payments:detail", payment_id=payment.pk)


@require_POST
@operator_required
def action_decision(request: HttpRequest, action_id: UUID) -> HttpResponse:
    form = DecisionForm(request.POST)
    if form.is_valid():
        backoffice.decide_action(request, action_id, form.cleaned_data)
    else:
        for errors in form.errors.values():
            messages.error(request, f"Not done: {' '.join(str(error) for error in errors)}")
    action = get_object_or_404(BackOfficeAction, pk=action_id)
    if request.POST.get("next") == "queue":
        return redirect("approvals")
    if action.payment_id:
        return redirect("payments:detail", payment_id=action.payment_id)
    return redirect("approvals")


@operator_required
def action_queue(request: HttpRequest) -> HttpResponse:
    """The back-office queue's old address: one page (/approvals/) now lists everything
    waiting for a decision, batches and back-office actions."""
    return redirect("approvals")
