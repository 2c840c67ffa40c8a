"""The dashboard's statement download (the account page links here with its date range)."""

from __future__ import annotations

from uuid import UUID

from django.http import HttpRequest, HttpResponseBadRequest, HttpResponseBase
from django.shortcuts import get_object_or_404
from django.views.decorators.cache import never_cache

from accounts.identity import audit
from accounts.identity.actions import AuditAction
from accounts.identity.audit import Actor
from accounts.identity.decorators import operator_required
from accounts.models import Account
from statements import requests
from statements.responses import statement_response


@never_cache
@operator_required
def statement_download(request: HttpRequest, account_id: UUID) -> HttpResponseBase:
    account = get_object_or_404(Account, pk=account_id)
    try:
        wanted = requests.read(request.GET, default_format="camt.053")
    except requests.BadRequest as error:
        return HttpResponseBadRequest(f"{error.field}: {error.message}", content_type="text/plain")
    audit.record(
        actor=Actor.from_request(request),
        action=AuditAction.ACCOUNT_STATEMENT,
        target=account,
        first_day=wanted.span.first_day.isoformat(),
        last_day=wanted.span.last_day.isoformat(),
        format=wanted.format,
    )
    return statement_response(account, wanted)
