"""The dashboard's account pages.

`/ledger/accounts/` lists accounts and `/ledger/accounts/<id>/` shows one with
its statement: read only (freezing an account stays in the admin).
"""

from __future__ import annotations

from uuid import UUID

from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.views.decorators.cache import never_cache

from accounts.identity import audit
from accounts.identity.decorators import operator_required
from accounts.ledger import selectors
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


@never_cache
@operator_required
def account_detail(request: HttpRequest, account_id: UUID) -> HttpResponse:
    account = get_object_or_404(Account.objects.select_related("merchant"), pk=account_id)
    statement = keyset_page(
        selectors.account_entries(account=account),
        ordering=("-id",),
        cursor=request.GET.get("cursor", ""),
        size=STATEMENT_PAGE_SIZE,
    )
    return render(
        request,
        "ledger/account_detail.html",
        {
            "account": account,
            "statement": statement,
            "holds": selectors.account_active_holds(account=account),
            "audit_events": audit.audit_events_of(target=account),
        },
    )
