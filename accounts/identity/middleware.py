"""Makes the request known to the audit trail for changes that no service sees coming.

Model signals (accounts.identity.people) record changes to people made by the admin
or by any code path; they ask `audit.current_actor()` who is acting, and this says so.
"""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

from accounts.identity import audit


class AuditRequestMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        with audit.during_request(request):
            return self.get_response(request)
