"""Project-level views: the dashboard's home page and a health check for load balancers."""

from __future__ import annotations

from datetime import date
from typing import Any

import django_rq
from django.conf import settings
from django.core.cache import cache
from django.db import DEFAULT_DB_ALIAS, connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.utils import timezone
from django.views import defaults
from django.views.decorators.cache import never_cache
from redis.exceptions import RedisError

from accounts.identity.decorators import AuthenticatedHttpRequest, operator_required
from accounts.ledger import currency as iso4217
from accounts.ledger import limits as instant_limits
from accounts.ledger.selectors import customer_balances_by_currency
from batches.selectors import batches_waiting
from common import redis_client
from common.db import cluster
from common.db.routing import replica_alias
from config.charts import volume_chart
from config.desk import actions_waiting_for
from payments import actions as payment_actions
from payments import figures as payment_figures
from payments import story as payment_story

CHART_DAYS = 30


def home_figures(*, today: date, currency: str = "") -> dict[str, Any]:
    """The home page's aggregates over today's and the last 30 days' payments: the scans
    that grow with the volume (see `cached_home_figures`)."""
    activity = payment_figures.currencies_by_activity(today=today, days=CHART_DAYS)
    currency = currency.strip().upper()
    if not iso4217.is_known(currency):
        currency = activity[0][0] if activity else ""
    points = (
        payment_figures.daily_volume(currency=currency, today=today, days=CHART_DAYS)
        if currency
        else []
    )
    return {
        "today": today,
        "summary": payment_figures.payments_day_summary(day=today),
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
        "failures": payment_figures.recent_failed_payments(limit=10),
        "figures_cached_seconds": settings.HOME_FIGURES_SECONDS,
    }
    context["batches_waiting"] = batches_waiting(request.user)  # None for a non-approver
    return render(request, "home.html", context)


@never_cache
@operator_required
def approvals(request: AuthenticatedHttpRequest) -> HttpResponse:
    """Everything waiting for this person's decision: batches (four eyes on a file) and
    back-office actions above BACKOFFICE_SECOND_APPROVAL_ABOVE, each oldest first; then,
    for the record, the actions waiting for someone else."""
    user = request.user
    pending = payment_story.pending_backoffice_actions()
    mine = {
        action.pk for action in actions_waiting_for(user).filter(pk__in=[a.pk for a in pending])
    }
    return render(
        request,
        "approvals.html",
        {
            "batches_waiting": batches_waiting(user),
            "actions_mine": [action for action in pending if action.pk in mine],
            "actions_others": [action for action in pending if action.pk not in mine],
            "may_approve": payment_actions.may_approve(user),
            "limit": settings.BACKOFFICE_SECOND_APPROVAL_ABOVE,
            "limits_waiting": instant_limits.changes_waiting_for(user),
        },
    )


def _check_database() -> str:
    """ "ok" when the primary answers; a connection that reached a standby is not ok (the
    hub writes on every request: the URL must lead to the primary)."""
    try:
        if cluster.server().in_recovery:
            return "error: connected to a standby, not the primary"
        return "ok"
    except Exception as error:  # noqa: BLE001 - any failure means unhealthy
        return f"error: {type(error).__name__}"


def _cluster() -> dict[str, Any]:
    """Where this process's connections lead, for the operator (not a readiness gate: a
    late or absent standby only makes the back office's searches later or slower)."""
    found: dict[str, Any] = {}
    try:
        found["database_primary"] = cluster.server().address
    except Exception as error:  # noqa: BLE001
        found["database_primary"] = f"error: {type(error).__name__}"
    if replica_alias() != DEFAULT_DB_ALIAS:
        try:
            replica = cluster.server(replica_alias())
            found["database_replica"] = {
                "server": replica.address,
                "role": replica.role,
                "lag_seconds": round(cluster.lag_seconds(replica_alias()), 3),
            }
        except Exception as error:  # noqa: BLE001
            found["database_replica"] = f"error: {type(error).__name__}"
    if settings.REDIS_SENTINELS:
        try:
            master = redis_client.master_address()
            found["redis_master"] = f"{master[0]}:{master[1]}" if master else None
        except Exception as error:  # noqa: BLE001
            found["redis_master"] = f"error: {type(error).__name__}"
    return found


def _check_redis() -> str:
    try:
        django_rq.get_connection("default").ping()
        return "ok"
    except Exception as error:  # noqa: BLE001
        return f"error: {type(error).__name__}"


_migrations_applied = False  # once all are applied, this process need not look again


def _check_migrations() -> str:
    """ "ok" when no migration of the code is left unapplied in the database."""
    global _migrations_applied
    if _migrations_applied:
        return "ok"
    from django.db.migrations.executor import MigrationExecutor

    try:
        executor = MigrationExecutor(connection)
        plan = executor.migration_plan(executor.loader.graph.leaf_nodes())
    except Exception as error:  # noqa: BLE001
        return f"error: {type(error).__name__}"
    if plan:
        names = ", ".join(f"{m.app_label}.{m.name}" for m, _backwards in plan[:5])
        return f"missing: {len(plan)} unapplied ({names})"
    _migrations_applied = True
    return "ok"


def _answer(checks: dict[str, str], about: dict[str, Any] | None = None) -> JsonResponse:
    healthy = all(value == "ok" for value in checks.values())
    return JsonResponse({"ok": healthy, **checks, **(about or {})}, status=200 if healthy else 503)


@never_cache
def healthz(request: HttpRequest) -> JsonResponse:
    """Liveness: 200 while the process runs and the database and Redis answer, else 503."""
    return _answer({"database": _check_database(), "redis": _check_redis()})


@never_cache
def readyz(request: HttpRequest) -> JsonResponse:
    """Readiness, for a load balancer to send traffic: the primary database and Redis
    answer and every migration is applied; else 503 naming what is missing. Also says
    where the connections lead: the primary, the replica and its lag, the Redis master."""
    database = _check_database()
    return _answer(
        {
            "database": database,
            "redis": _check_redis(),
            "migrations": _check_migrations() if database == "ok" else "unknown: no database",
        },
        _cluster(),
    )


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
