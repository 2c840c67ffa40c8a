"""URL map: dashboard at /, merchant API at /api/v1/, back office at /admin/."""

from csp.decorators import csp_update
from django.contrib import admin
from django.urls import include, path
from django_rq import urls as rq_urls
from drf_spectacular.views import (
    SpectacularAPIView,
    SpectacularRedocView,
    SpectacularSwaggerSplitView,
)

from config import views
from statements.api import StatementView

urlpatterns = [
    path("", views.home, name="home"),
    path("healthz", views.healthz, name="healthz"),
    path("accounts/", include("accounts.urls")),  # login, verify (second factor), logout
    path("payments/", include("payments.urls")),  # dashboard: payment search, export, page
    path("ledger/", include("accounts.dashboard_urls")),  # dashboard: accounts, statements
    path("ledger/", include("statements.urls")),  # dashboard: statement downloads
    path("batches/", include("batches.urls")),  # dashboard: batches, upload, decisions
    path("api/v1/accounts/<uuid:pk>/statement/", StatementView.as_view(), name="statement"),
    path("api/v1/", include("payments.api.urls")),
    path("api/v1/", include("batches.api.urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerSplitView.as_view(url_name="schema"), name="swagger-ui"),
    # Redoc's page boots from an inline script and runs a worker from a blob: URL.
    path(
        "api/redoc/",
        csp_update({"script-src": ["'unsafe-inline'"], "worker-src": ["blob:"]})(
            SpectacularRedocView.as_view(url_name="schema")
        ),
        name="redoc",
    ),
    # django-rq's own views check is_staff only: behind the admin's two-factor check instead.
    path(
        "admin/rq/",
        include(
            (
                rq_urls.get_api_urlpatterns()
                + rq_urls.get_admin_urlpatterns(view_wrapper=admin.site.admin_view),
                "django_rq",
            )
        ),
    ),
    path("admin/", admin.site.urls),
]


handler404 = "config.views.not_found"
handler500 = "config.views.server_error"
