"""The dashboard's door: both factors, then a staff role.

`operator_required` (functions) and `OperatorRequiredMixin` (class-based
views) send an anonymous visitor to the login page, a password-only session to
the second step (or to enrolment when the user has no authenticator yet), and
answer 403 to a fully logged-in user who is not the hub's staff.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseBase
from django.urls import reverse
from django_otp import user_has_device

from accounts.identity.roles import may_use_dashboard

if TYPE_CHECKING:
    from accounts.identity.models import User


class AuthenticatedHttpRequest(HttpRequest):
    """For type checking: the request of a view behind `operator_required`, user signed in."""

    user: User


def second_step_url(user: Any) -> str:
    """Where a password-only session goes next: the code, or the first enrolment."""
    return reverse("otp_verify" if user_has_device(user, confirmed=True) else "otp_enroll")


def operator_gate(request: HttpRequest) -> HttpResponse | None:
    """A redirect or a refusal for a request that may not see the dashboard, else None."""
    user = request.user
    if not user.is_authenticated:
        return redirect_to_login(request.get_full_path(), settings.LOGIN_URL)
    if not user.is_verified():  # type: ignore[attr-defined]  # OTPMiddleware adds it
        return redirect_to_login(request.get_full_path(), second_step_url(user))
    if not may_use_dashboard(user):
        raise PermissionDenied("the dashboard is for the payments staff")
    return None


def operator_required(view: Callable[..., HttpResponseBase]) -> Callable[..., HttpResponseBase]:
    @wraps(view)
    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        refusal = operator_gate(request)
        if refusal is not None:
            return refusal
        return view(request, *args, **kwargs)

    return wrapped


class OperatorRequiredMixin:
    """`operator_required` for class-based views; put it first among the bases."""

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        refusal = operator_gate(request)
        if refusal is not None:
            return refusal
        return super().dispatch(request, *args, **kwargs)  # type: ignore[misc]
