"""Dashboard pages of batches: the list, the upload, one batch's page with its decisions,
its live progress (an htmx fragment) and its reports.

Operators upload on behalf of a merchant; approvers decide. Every POST goes
through the services, which check the four-eyes rules again whatever the page
showed, and record the decision in the audit trail with the operator's address.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import (
    Http404,
    HttpRequest,
    HttpResponse,
    HttpResponseBadRequest,
    HttpResponseBase,
    StreamingHttpResponse,
)
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_POST

from accounts.identity import audit
from accounts.identity.actions import AuditAction
from accounts.identity.audit import Actor, audit_events_of
from accounts.identity.decorators import AuthenticatedHttpRequest, operator_required
from accounts.identity.roles import APPROVER, OPERATOR, has_role
from accounts.ledger import money
from accounts.ledger.errors import LedgerError
from accounts.models import User
from batches import reports, selectors, services
from batches.forms import BatchFilterForm, BatchRejectForm, BatchUploadForm
from batches.models import Approval, Batch
from batches.responses import csv_response, unknown_version, xml_response
from common.keyset import keyset_page
from iso20022.pain002 import DEFAULT_VERSION, VERSIONS
from payments.limits import upload_too_large

PAGE_SIZE = 50
ROWS_PAGE_SIZE = 100
NEWEST_FIRST = ("-created_at", "-id")
NOT_PAID_SHOWN = 200
# The page polls its progress while a worker has something to do; a batch awaiting a
# person's decision, or scheduled for a later day, does not change by itself soon.
LIVE = {
    Batch.Status.UPLOADED,
    Batch.Status.VALIDATING,
    Batch.Status.APPROVED,
    Batch.Status.EXECUTING,
}
RAN = {
    Batch.Status.APPROVED,
    Batch.Status.EXECUTING,
    Batch.Status.COMPLETED,
    Batch.Status.COMPLETED_WITH_ERRORS,
    Batch.Status.FAILED,
}
CANCELLABLE = {Batch.Status.UPLOADED, Batch.Status.VALIDATING, Batch.Status.AWAITING_APPROVAL}


def may_upload(user: User) -> bool:
    return bool(user.is_superuser or has_role(user, OPERATOR))


def may_approve(user: User) -> bool:
    # The approver role, never superuser status alone.
    return has_role(user, APPROVER)


def _batch(batch_id: UUID) -> Batch:
    try:
        return Batch.objects.select_related("merchant", "debtor_account", "uploaded_by").get(
            pk=batch_id
        )
    except Batch.DoesNotExist:
        raise Http404("no such batch") from None


def _refused(request: HttpRequest, batch: Batch, reason: str) -> HttpResponse:
    return render(request, "batches/refused.html", {"batch": batch, "reason": reason}, status=403)


# --- list and home ------------------------------------------------------------------------


@never_cache
@operator_required
def batch_list(request: AuthenticatedHttpRequest) -> HttpResponse:
    form = BatchFilterForm(request.GET or None)
    page = None
    if not form.is_bound or form.is_valid():
        filters = form.filters() if form.is_bound else {}
        page = keyset_page(
            selectors.batches_search(**filters),
            ordering=NEWEST_FIRST,
            cursor=request.GET.get("cursor", ""),
            size=PAGE_SIZE,
        )
        for batch in page.items:
            # An attribute for the template only.
            batch.approvals_needed = selectors.approvals_required(batch)  # type: ignore[attr-defined]
    return render(
        request,
        "batches/list.html",
        {"form": form, "page": page, "may_upload": may_upload(request.user)},
    )


# --- upload -------------------------------------------------------------------------------


@never_cache
@operator_required
def batch_upload(request: AuthenticatedHttpRequest) -> HttpResponse:
    if not may_upload(request.user):
        raise PermissionDenied("uploading batches is for the operator role")
    if request.method == "POST":
        form = BatchUploadForm(request.POST, request.FILES)
        if upload_too_large(request):
            # Stopped while streaming in (payments/limits.py): the file never fully arrived.
            form = BatchUploadForm(request.POST)
            form.add_error(
                None, f"the file is too large: the limit is {settings.BATCH_MAX_FILE_BYTES} bytes"
            )
            return render(request, "batches/upload.html", {"form": form}, status=413)
        if form.is_valid():
            account = form.cleaned_data["debtor_account"]  # None: each PmtInf names its own
            try:
                batch = services.batch_upload(
                    merchant=form.cleaned_data["merchant"],
                    upload=form.cleaned_data["file"],
                    debtor_account_number=account.number if account else "",
                    execution_date=form.cleaned_data["execution_date"],
                    actor=Actor.from_request(request),
                    uploaded_by=request.user,
                )
            except LedgerError as error:
                form.add_error(None, error.detail)
            else:
                if batch.status == Batch.Status.INVALID:
                    messages.error(request, f"{batch.file_name} is refused: {batch.error_message}.")
                else:
                    messages.success(
                        request,
                        f"{batch.file_name} is uploaded for {batch.merchant.name}; "
                        "its rows are being checked.",
                    )
                return redirect("batches:detail", batch_id=batch.pk)
    else:
        form = BatchUploadForm()
    return render(request, "batches/upload.html", {"form": form, "columns": reports.CSV_COLUMNS})


@operator_required
def batch_sample_csv(request: HttpRequest) -> HttpResponseBase:
    """A CSV in the upload format with two rows, to start from."""
    response = StreamingHttpResponse(reports.sample_csv(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = 'attachment; filename="batch-sample.csv"'
    return response


# --- one batch ----------------------------------------------------------------------------


def progress_context(batch: Batch) -> dict[str, Any]:
    """What the progress fragment shows: a bar over the valid rows once execution starts."""
    live = batch.status in LIVE
    context: dict[str, Any] = {"batch": batch, "live": live, "ran": batch.status in RAN}
    if batch.status in RAN:
        total = batch.valid_count
        done = min(batch.processed_count, total)
        if batch.is_final and done < total:
            done = total  # a finished execution has nothing left to do
        context.update(
            done=done,
            total=total,
            percent=100 if not total else done * 100 // total,
        )
    return context


@never_cache
@operator_required
def batch_detail(request: AuthenticatedHttpRequest, batch_id: UUID) -> HttpResponse:
    batch = _batch(batch_id)
    user = request.user
    approvals = list(batch.approvals.select_related("approver").order_by("created_at", "id"))
    approvals_needed, approval_reason = selectors.approval_rule(batch)
    totals = sorted(selectors.totals_by_currency(batch).items())
    search = request.GET.get("q", "")[:100]
    flag = request.GET.get("flag", "")
    sort = request.GET.get("sort", "row")
    ordering = selectors.ROW_ORDERINGS.get(sort, selectors.ROW_ORDERINGS["row"])
    rows = keyset_page(
        selectors.batch_rows(batch, search=search, flag=flag),
        ordering=ordering,
        cursor=request.GET.get("cursor", ""),
        size=ROWS_PAGE_SIZE,
    )
    context = {
        **progress_context(batch),
        "totals": totals,
        "rows": rows,
        "columns": row_columns(batch, rows.items),
        "flags_explained": flags_explained(batch),
        "row_search": search,
        "row_flag": flag if flag in selectors.ROW_FLAGS else "",
        "row_sort": sort if sort in selectors.ROW_ORDERINGS else "row",
        "flag_counts": batch.flag_counts,
        "holds": list(batch.holds.select_related("hold__account").order_by("hold__account_id")),
        "approval_reason": approval_reason,
        "confirm_text": _confirmation(batch, totals),
        "debtor_totals": selectors.totals_by_debtor(batch),
        "not_paid": selectors.not_paid_items(batch, limit=NOT_PAID_SHOWN),
        "not_paid_count": batch.invalid_count + batch.failed_count,
        "not_paid_shown": NOT_PAID_SHOWN,
        "approvals": approvals,
        "approvals_given": sum(a.decision == Approval.Decision.APPROVE for a in approvals),
        "approvals_needed": approvals_needed,
        "may_decide": selectors.may_decide(batch, user),
        "may_cancel": batch.uploaded_by_id == user.pk and batch.status in CANCELLABLE,
        "is_uploader": user.person_id in selectors.initiators(batch),
        "is_approver": may_approve(user),
        "barred_until": selectors.approval_barred_until(user),
        "reject_form": BatchRejectForm(),
        "audit_events": audit_events_of(target=batch),
    }
    return render(request, "batches/detail.html", context)


def row_columns(batch: Batch, items: list) -> dict[str, bool]:
    """Which of the rows table's optional columns this page of rows fills: a CSV shows
    no empty pain.001 columns, and the table fits a 1,280 px laptop."""
    dates = {(item.execution_date, item.execution_datetime) for item in items}
    return {
        "block": any(item.payment_information_id or item.instruction_id for item in items),
        "debtor": batch.debtor_account_id is None,  # each PmtInf names its own
        "execution": len(dates) > 1 or any(item.execution_datetime for item in items),
        "agent": any(item.creditor_agent_bic for item in items),
        "end_to_end": any(item.end_to_end_id or item.uetr for item in items),
        "ultimate": any(item.ultimate_debtor or item.ultimate_creditor for item in items),
        "status": batch.status in RAN,  # before the execution every row is "valid"
    }


def flags_explained(batch: Batch) -> list[dict[str, Any]]:
    """The flags of the batch's rows, counted, each with what it means for the approver."""
    counts = batch.flag_counts or {}
    return [
        {
            "key": "new_payee",
            "css": "new-payee",
            "label": "new payee",
            "count": counts.get("new_payee", 0),
            "meaning": "the debtor account has never paid this creditor account before",
        },
        {
            "key": "largest",
            "css": "largest",
            "label": "largest",
            "count": counts.get("largest", 0),
            "meaning": f"stands out: more than {settings.BATCH_OUTLIER_FACTOR} times the median "
            "amount of this batch's rows in its currency",
        },
        {
            "key": "duplicate",
            "css": "duplicate",
            "label": "possible duplicate",
            "count": counts.get("duplicate", 0),
            "meaning": "the same creditor, amount and reference, or the same end-to-end id, as a "
            f"payment or a pending batch's row of the last {settings.BATCH_DUPLICATE_DAYS} days",
        },
        {
            "key": "sanctions",
            "css": "sanctions",
            "label": "possible sanctions match",
            "count": counts.get("sanctions", 0),
            "meaning": "the payee's name may be on a sanctions list: the batch waits until "
            "a compliance officer decides the alert",
        },
        {
            "key": "vop_mismatch",
            "css": "vop-mismatch",
            "label": "name mismatch",
            "count": counts.get("vop_mismatch", 0),
            "meaning": "Verification of Payee: the payee's bank says the name is a close match "
            "(it gives the holder's name) or no match; approving needs your explicit confirmation",
        },
    ]


def _confirmation(batch: Batch, totals: list[tuple[str, int]]) -> str:
    """What Approve asks before it posts: how many payments, and how much per currency."""
    amounts = ", ".join(f"{money.to_decimal(total, c):,f} {c}" for c, total in totals if total)
    return (
        f"Approve {batch.valid_count:,} payment{'s' if batch.valid_count != 1 else ''} "
        f"for a total of {amounts or 'nothing'}? The funds are held on the debtor account now."
    )


@never_cache
@operator_required
def batch_progress(request: HttpRequest, batch_id: UUID) -> HttpResponse:
    """The progress fragment that the batch page polls every second while the batch is live.

    When the status differs from the one the page was drawn with, htmx is told to
    reload the whole page: buttons, approvals and report links change with it.
    """
    batch = _batch(batch_id)
    response = render(request, "batches/_progress.html", progress_context(batch))
    shown = request.GET.get("shown", "")
    if request.headers.get("HX-Request") and shown and shown != batch.status:
        response["HX-Refresh"] = "true"
    return response


# --- decisions ----------------------------------------------------------------------------


@sensitive_post_parameters("otp_token")
@operator_required
@require_POST
def batch_approve(request: AuthenticatedHttpRequest, batch_id: UUID) -> HttpResponse:
    batch = _batch(batch_id)
    try:
        batch = services.batch_approve(
            batch_id=batch.pk,
            approver=request.user,
            actor=Actor.from_request(request),
            otp_token=request.POST.get("otp_token", ""),
            confirm_mismatches=request.POST.get("confirm_mismatches") == "yes",
        )
    except services.NotAllowed as error:
        return _refused(request, batch, error.detail)
    except LedgerError as error:
        messages.error(request, f"Not approved: {error.detail}.")
    else:
        if batch.status == Batch.Status.AWAITING_APPROVAL:
            messages.success(
                request,
                "Your approval is recorded; the batch needs another approver before it runs.",
            )
        elif batch.status == Batch.Status.SCHEDULED:
            messages.success(
                request, f"Approved: the batch runs on {batch.execution_date:%Y-%m-%d}."
            )
        else:
            messages.success(request, "Approved: the batch is being paid.")
    return redirect("batches:detail", batch_id=batch.pk)


@sensitive_post_parameters("otp_token")
@operator_required
@require_POST
def batch_reject(request: AuthenticatedHttpRequest, batch_id: UUID) -> HttpResponse:
    batch = _batch(batch_id)
    form = BatchRejectForm(request.POST)
    if not form.is_valid():
        # An ErrorList yields its messages as str; the stubs type its items `ValidationError | str`.
        messages.error(request, f"Not rejected: {' '.join(form.errors.get('reason', []))}")  # type: ignore[arg-type]
        return redirect("batches:detail", batch_id=batch.pk)
    try:
        batch = services.batch_reject(
            batch_id=batch.pk,
            approver=request.user,
            reason=form.cleaned_data["reason"],
            actor=Actor.from_request(request),
            otp_token=request.POST.get("otp_token", ""),
        )
    except services.NotAllowed as error:
        return _refused(request, batch, error.detail)
    except LedgerError as error:
        messages.error(request, f"Not rejected: {error.detail}.")
    else:
        messages.success(request, "Rejected: the batch will not be paid.")
    return redirect("batches:detail", batch_id=batch.pk)


@operator_required
@require_POST
def batch_cancel(request: AuthenticatedHttpRequest, batch_id: UUID) -> HttpResponse:
    batch = _batch(batch_id)
    try:
        batch = services.batch_cancel(
            batch_id=batch.pk, user=request.user, actor=Actor.from_request(request)
        )
    except services.NotAllowed as error:
        return _refused(request, batch, error.detail)
    except LedgerError as error:
        messages.error(request, f"Not cancelled: {error.detail}.")
    else:
        messages.success(request, "Cancelled: the batch will not be paid.")
    return redirect("batches:detail", batch_id=batch.pk)


# --- reports ------------------------------------------------------------------------------


def _report_taken(request: HttpRequest, batch: Batch, which: str) -> None:
    # Who took which rows out of the hub, like the payments export.
    audit.record(
        actor=Actor.from_request(request),
        action=AuditAction.BATCH_REPORT,
        target=batch,
        which=which,
    )


@never_cache
@operator_required
def batch_report_csv(request: HttpRequest, batch_id: UUID) -> HttpResponseBase:
    batch = _batch(batch_id)
    _report_taken(request, batch, "report.csv")
    return csv_response(batch, "report")


@never_cache
@operator_required
def batch_report_xml(request: HttpRequest, batch_id: UUID) -> HttpResponseBase:
    batch = _batch(batch_id)
    version = request.GET.get("version", DEFAULT_VERSION)
    if version not in VERSIONS:
        return HttpResponseBadRequest(unknown_version(version), content_type="text/plain")
    _report_taken(request, batch, "report.xml")
    return xml_response(batch, version)


@never_cache
@operator_required
def batch_failed_csv(request: HttpRequest, batch_id: UUID) -> HttpResponseBase:
    batch = _batch(batch_id)
    _report_taken(request, batch, "failed.csv")
    return csv_response(batch, "failed")
