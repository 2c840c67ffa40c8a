"""The back office's admin site: django-otp's, with its login sent to the dashboard's two steps.

`config.apps.AdminConfig` makes this the default `admin.site`, so every
`admin.register` lands here and no admin page opens on a password alone.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth import REDIRECT_FIELD_NAME
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django_otp.admin import OTPAdminSite

from accounts.identity.decorators import second_step_url


class HubAdminSite(OTPAdminSite):
    site_header = "Payments hub back office"
    # The list of every model beside each page took 300 px of a 1,280 px laptop, and the
    # payment list's Status, Reference and Failure fell off its right edge: the home page
    # and the breadcrumbs lead everywhere it did.
    enable_nav_sidebar = False
    site_title = "Payments hub"
    index_title = "Back office"

    def __init__(self, name: str = "admin") -> None:
        super().__init__(name)

    def login(
        self, request: HttpRequest, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        next_url = request.GET.get(REDIRECT_FIELD_NAME, "")
        if not url_has_allowed_host_and_scheme(
            next_url, allowed_hosts={request.get_host()}, require_https=request.is_secure()
        ):
            next_url = reverse("admin:index", current_app=self.name)
        user = request.user
        if not user.is_authenticated:
            return redirect_to_login(next_url, reverse("login"))
        if not user.is_verified():  # type: ignore[attr-defined]  # OTPMiddleware adds it
            return redirect_to_login(next_url, second_step_url(user))
        if self.has_permission(request):
            return HttpResponseRedirect(next_url)
        raise PermissionDenied("the back office is for staff users")
