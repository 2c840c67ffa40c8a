"""URL map: dashboard at /, merchant API at /api/v1/, back office at /admin/."""

from csp.constants import NONCE
from csp.decorators import csp_update
from django.contrib import admin
from django.urls import include, path
from django_rq import urls as rq_urls
from drf_spectacular.views import (
    SpectacularAPIView,
    SpectacularRedocView,
    SpectacularSwaggerSplitView,
)

from config import metrics, views
from statements.api import StatementView

# ReDoc's page (templates/drf_spectacular/redoc.html) on top of the site's policy. The <style>
# elements ReDoc adds as it renders carry the page's nonce (its init script hands it over). The
# one its bundle adds as it loads, before any nonce can reach it, is allowed by hash: empty,
# then perfect-scrollbar's CSS, in the sidecar's redoc.standalone.js (ReDoc 2.5.4). A bundle
# with other CSS shows "Applying inline style violates ... a hash ('sha256-...')" in the
# browser's console and fails tests/e2e/test_api_docs.py: the hash to put here is in that line.
# ReDoc's search runs in a worker from a blob: URL.
REDOC_CSP = {
    "style-src": [
        NONCE,
        "'sha256-47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU='",  # ""
        "'sha256-QMIg+bpjm3JdElJ388KYke01izlUW0UoNOeKjpMxdgc='",  # perfect-scrollbar.css
    ],
    "worker-src": ["blob:"],
}

urlpatterns = [
    path("", views.home, name="home"),
    path("approvals/", views.approvals, name="approvals"),  # everything waiting for me
    path("healthz", views.healthz, name="healthz"),
    path("readyz", views.readyz, name="readyz"),
    path("metrics", metrics.metrics, name="metrics"),
    path("accounts/", include("accounts.urls")),  # login, verify (second factor), logout
    path("payments/", include("payments.urls")),  # dashboard: payment search, export, page
    path("ledger/", include("accounts.dashboard_urls")),  # dashboard: accounts, statements
    path("ledger/", include("statements.urls")),  # dashboard: statement downloads
    path("batches/", include("batches.urls")),  # dashboard: batches, upload, decisions
    path("api/v1/accounts/<uuid:pk>/statement/", StatementView.as_view(), name="statement"),
    path("api/v1/", include("payments.api.urls")),
    path("api/v1/", include("batches.api.urls")),
    path("api/v1/", include("compliance.vop.api_urls")),  # payee verifications, batch opt-out
    path("clearing/", include("clearing.urls")),  # other banks' signed ISO 20022 messages
    path("vop/", include("compliance.vop.urls")),  # other banks' Verification of Payee requests
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerSplitView.as_view(url_name="schema"), name="swagger-ui"),
    path(
        "api/redoc/",
        csp_update(REDOC_CSP)(SpectacularRedocView.as_view(url_name="schema")),
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
