"""The dashboard's account pages.

`/ledger/accounts/` lists accounts and `/ledger/accounts/<id>/` shows one with
its statement: read only (freezing an account stays in the admin).
"""

from __future__ import annotations

from datetime import date, timedelta
from uuid import UUID

from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.utils import timezone
from django.views.decorators.cache import never_cache

from accounts.identity import audit
from accounts.identity.decorators import operator_required
from accounts.ledger import limits, selectors
from accounts.ledger.forms import AccountSearchForm
from accounts.ledger.models import Account
from common.keyset import keyset_page

# --- The dashboard's account pages ------------------------------------------------------------

ACCOUNTS_PAGE_SIZE = 50
STATEMENT_PAGE_SIZE = 50


@never_cache
@operator_required
def account_list(request: HttpRequest) -> HttpResponse:
    form = AccountSearchForm(request.GET or None)
    page = None
    if not form.is_bound or form.is_valid():
        filters = form.search_kwargs() if form.is_bound else {}
        page = keyset_page(
            selectors.accounts_search(**filters),
            ordering=("number",),
            cursor=request.GET.get("cursor", ""),
            size=ACCOUNTS_PAGE_SIZE,
        )
    return render(request, "ledger/account_list.html", {"form": form, "page": page})


STATEMENT_DAYS = 30


def _statement_period(request: HttpRequest) -> tuple[selectors.Period, str]:
    """The statement's period from ?from=&to= (the last 30 days by default), and why not."""
    today = timezone.localdate()
    default = selectors.period(today - timedelta(days=STATEMENT_DAYS - 1), today)
    try:
        first = date.fromisoformat(request.GET.get("from") or default.first_day.isoformat())
        last = date.fromisoformat(request.GET.get("to") or default.last_day.isoformat())
        return selectors.period(first, last), ""
    except ValueError as error:  # a bad date, or PeriodError
        return default, f"The period was not understood ({error}); showing the last 30 days."


@never_cache
@operator_required
def account_detail(request: HttpRequest, account_id: UUID) -> HttpResponse:
    account = get_object_or_404(Account.objects.select_related("merchant"), pk=account_id)
    span, period_error = _statement_period(request)
    statement = keyset_page(
        selectors.period_entries(account=account, span=span),
        ordering=("-id",),
        cursor=request.GET.get("cursor", ""),
        size=STATEMENT_PAGE_SIZE,
    )
    return render(
        request,
        "ledger/account_detail.html",
        {
            "account": account,
            "span": span,
            "period_error": period_error,
            "balances": selectors.balances(account, span),
            "statement": statement,
            "holds": selectors.account_active_holds(account=account),
            "audit_events": audit.audit_events_of(target=account),
            **limits.panel(account, request.user),
        },
    )
