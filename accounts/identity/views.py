"""The two-step login of the dashboard and the admin.

`/accounts/login/` checks the password (django-axes counts the failures),
`/accounts/verify/` asks for the code of the user's TOTP device, and
`/accounts/enroll/` sets a first device up for a user who has none yet.
"""

from __future__ import annotations

from base64 import b32encode
from typing import cast
from urllib.parse import urlencode

import qrcode
import qrcode.image.svg
from axes.helpers import get_client_username, get_cool_off, get_failure_limit
from django.conf import settings
from django.contrib.auth import REDIRECT_FIELD_NAME
from django.contrib.auth import views as auth_views
from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render, resolve_url
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.safestring import mark_safe
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_protect
from django.views.decorators.debug import sensitive_post_parameters
from django_otp import login as otp_login
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts.identity import audit, services
from accounts.identity.actions import AuditAction
from accounts.identity.audit import Actor
from accounts.identity.decorators import second_step_url
from accounts.identity.forms import OTPTokenForm
from accounts.identity.models import User


def _next_url(request: HttpRequest) -> str:
    """The page asked for before the login, if it is on this site; else the home page."""
    candidate = request.POST.get(REDIRECT_FIELD_NAME) or request.GET.get(REDIRECT_FIELD_NAME, "")
    if candidate and url_has_allowed_host_and_scheme(
        candidate, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return candidate
    return resolve_url(settings.LOGIN_REDIRECT_URL)


def _with_next(url: str, next_url: str) -> str:
    return f"{url}?{urlencode({REDIRECT_FIELD_NAME: next_url})}"


class LoginView(auth_views.LoginView):
    """First step: user name and password. Success leads to the second step, never further."""

    template_name = "registration/login.html"

    def get_success_url(self) -> str:
        next_url = self.get_redirect_url() or resolve_url(settings.LOGIN_REDIRECT_URL)
        return _with_next(second_step_url(self.request.user), next_url)


def _complete_login(request: HttpRequest, device: TOTPDevice) -> HttpResponse:
    otp_login(request, device)
    # The session now carries more rights than before: give it a new key.
    request.session.cycle_key()
    audit.record(
        actor=Actor.from_request(request),
        action=AuditAction.AUTH_LOGIN,
        target=cast(User, request.user),  # signed in by otp_login
        device=device.name,
    )
    return HttpResponseRedirect(_next_url(request))


def _record_otp_failure(request: HttpRequest, form: OTPTokenForm, step: str) -> None:
    if not form.data.get("otp_token"):
        return  # an empty submission is not a guess
    reasons = [str(message) for message in form.non_field_errors()] or ["invalid"]
    audit.record(
        actor=Actor.from_request(request),
        action=AuditAction.AUTH_OTP_FAILED,
        target=cast(User, request.user),  # the callers return early for an anonymous user
        step=step,
        reason=reasons[0],
    )


@sensitive_post_parameters("otp_token")
@csrf_protect
@never_cache
def otp_verify(request: HttpRequest) -> HttpResponse:
    """Second step: the code of the user's confirmed TOTP device."""
    user = request.user
    if not user.is_authenticated:
        return redirect_to_login(_next_url(request), settings.LOGIN_URL)
    if user.is_verified():  # type: ignore[attr-defined]  # OTPMiddleware adds it
        return HttpResponseRedirect(_next_url(request))
    device = TOTPDevice.objects.devices_for_user(user, confirmed=True).order_by("pk").first()
    if device is None:
        return HttpResponseRedirect(_with_next(reverse("otp_enroll"), _next_url(request)))

    form = OTPTokenForm(request.POST or None, user=user, device=device)
    if request.method == "POST":
        if form.is_valid() and form.verified_device is not None:
            return _complete_login(request, form.verified_device)
        _record_otp_failure(request, form, step="verify")
    return render(
        request,
        "registration/otp_verify.html",
        {"form": form, REDIRECT_FIELD_NAME: _next_url(request)},
    )


def qr_code_svg(data: str) -> str:
    """An inline SVG QR code, drawn here: the secret never leaves the server for an image."""
    image = qrcode.make(
        data,
        image_factory=qrcode.image.svg.SvgPathFillImage,
        box_size=10,
        border=2,
        error_correction=qrcode.constants.ERROR_CORRECT_M,
    )
    svg = image.to_string(encoding="unicode")
    return svg.replace("<svg ", '<svg class="qr" role="img" aria-label="QR code" ', 1)


def _grouped(secret: str) -> str:
    return " ".join(secret[i : i + 4] for i in range(0, len(secret), 4))


@sensitive_post_parameters("otp_token")
@csrf_protect
@never_cache
def otp_enroll(request: HttpRequest) -> HttpResponse:
    """First login of a user without an authenticator: show the secret, confirm a first code."""
    user = request.user
    if not user.is_authenticated:
        return redirect_to_login(_next_url(request), settings.LOGIN_URL)
    if user.is_verified():  # type: ignore[attr-defined]  # OTPMiddleware adds it
        return HttpResponseRedirect(_next_url(request))
    if TOTPDevice.objects.devices_for_user(user, confirmed=True).exists():
        # An authenticator is set up already: a second one needs that one's code first.
        return HttpResponseRedirect(_with_next(reverse("otp_verify"), _next_url(request)))

    device = services.otp_device_begin_enrolment(user=user)
    form = OTPTokenForm(request.POST or None, user=user, device=device)
    if request.method == "POST":
        if form.is_valid() and form.verified_device is not None:
            confirmed = services.otp_device_confirm(
                device_id=device.pk, actor=Actor.from_request(request)
            )
            return _complete_login(request, confirmed)
        _record_otp_failure(request, form, step="enroll")
    secret = b32encode(device.bin_key).decode()
    return render(
        request,
        "registration/otp_enroll.html",
        {
            "form": form,
            "qr_svg": mark_safe(qr_code_svg(device.config_url)),  # noqa: S308 - an SVG drawn by qrcode from our own URI
            "secret": _grouped(secret),
            REDIRECT_FIELD_NAME: _next_url(request),
        },
    )


def locked_out(
    request: HttpRequest,
    original_response: HttpResponse | None = None,
    credentials: dict | None = None,
) -> HttpResponse:
    """django-axes' answer to a locked-out login (settings.AXES_LOCKOUT_CALLABLE): 429."""
    cool_off = get_cool_off(request)
    return render(
        request,
        "registration/locked_out.html",
        {
            "username": get_client_username(request, credentials) or "",
            "failure_limit": get_failure_limit(request, credentials),
            "cooloff_minutes": round(cool_off.total_seconds() / 60) if cool_off else None,
        },
        # django-axes puts its defaults into settings at run time (axes.conf).
        status=settings.AXES_HTTP_RESPONSE_CODE,  # type: ignore[misc]
    )
