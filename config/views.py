"""Project-level views: the dashboard's home page and a health check for load balancers."""

from __future__ import annotations

from datetime import date
from typing import Any

import django_rq
from django.conf import settings
from django.core.cache import cache
from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.utils import timezone
from django.views import defaults
from django.views.decorators.cache import never_cache
from redis.exceptions import RedisError

from accounts.identity.decorators import AuthenticatedHttpRequest, operator_required
from accounts.ledger import currency as iso4217
from accounts.ledger.selectors import customer_balances_by_currency
from batches.views import batches_waiting
from config.charts import volume_chart
from payments import selectors as payment_selectors

CHART_DAYS = 30


def home_figures(*, today: date, currency: str = "") -> dict[str, Any]:
    """The home page's aggregates over today's and the last 30 days' payments: the scans
    that grow with the volume (see `cached_home_figures`)."""
    activity = payment_selectors.currencies_by_activity(today=today, days=CHART_DAYS)
    currency = currency.strip().upper()
    if not iso4217.is_known(currency):
        currency = activity[0][0] if activity else ""
    points = (
        payment_selectors.daily_volume(currency=currency, today=today, days=CHART_DAYS)
        if currency
        else []
    )
    return {
        "today": today,
        "summary": payment_selectors.payments_day_summary(day=today),
        "chart": volume_chart(points, currency) if currency else None,
        "chart_points": points,
        "chart_currency": currency,
        "chart_currencies": [code for code, _count in activity[:12]],
        "chart_days": CHART_DAYS,
    }


def cached_home_figures(*, today: date, currency: str = "") -> dict[str, Any]:
    """`home_figures`, shared by every operator for HOME_FIGURES_SECONDS: at millions of
    payments a day each computation scans them, and a desk of operators reloads often.
    Balances and recent failures stay live. Without the cache, computed each time."""
    seconds = settings.HOME_FIGURES_SECONDS
    currency = currency.strip().upper()
    if not iso4217.is_known(currency):
        currency = ""  # the most active one: one cache entry, whatever was typed

    def compute() -> dict[str, Any]:
        return {**home_figures(today=today, currency=currency), "figures_at": timezone.now()}

    if not seconds:
        return compute()
    key = f"home-figures:{today.isoformat()}:{timezone.get_current_timezone_name()}:{currency}"
    try:
        figures = cache.get_or_set(key, compute, timeout=seconds)
    except RedisError:
        return compute()
    return figures if figures is not None else compute()


def local_today() -> date:
    """Today in TIME_ZONE (a function of its own, so that tests can pin it)."""
    return timezone.localdate()


@never_cache
@operator_required
def home(request: AuthenticatedHttpRequest) -> HttpResponse:
    today = local_today()
    context = {
        **cached_home_figures(today=today, currency=request.GET.get("currency", "")),
        "balances": customer_balances_by_currency(),
        "failures": payment_selectors.recent_failed_payments(limit=10),
        "figures_cached_seconds": settings.HOME_FIGURES_SECONDS,
    }
    context["batches_waiting"] = batches_waiting(request.user)  # None for a non-approver
    return render(request, "home.html", context)


@never_cache
def healthz(request: HttpRequest) -> JsonResponse:
    """200 when the database and Redis both answer, 503 otherwise."""
    checks: dict[str, str] = {}
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        checks["database"] = "ok"
    except Exception as error:  # noqa: BLE001 - any failure means unhealthy
        checks["database"] = f"error: {type(error).__name__}"
    try:
        django_rq.get_connection("default").ping()
        checks["redis"] = "ok"
    except Exception as error:  # noqa: BLE001
        checks["redis"] = f"error: {type(error).__name__}"
    healthy = all(value == "ok" for value in checks.values())
    return JsonResponse({"ok": healthy, **checks}, status=200 if healthy else 503)


def not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    """JSON under /api/ (the API's error shape), the usual page elsewhere."""
    if request.path.startswith("/api/"):
        return JsonResponse({"code": "not_found", "detail": "no such endpoint"}, status=404)
    return defaults.page_not_found(request, exception)


def server_error(request: HttpRequest) -> HttpResponse:
    if request.path.startswith("/api/"):
        return JsonResponse(
            {"code": "server_error", "detail": "something went wrong on our side; retry later"},
            status=500,
        )
    return defaults.server_error(request)
