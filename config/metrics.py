"""/metrics: Prometheus text format, for the scraper of our own network only.

django-prometheus counts requests and database queries (its middleware and database
engine); payments/metrics.py counts payments and batch rows; `HubCollector` reads the
backlogs when scraped. Under gunicorn and the workers, PROMETHEUS_MULTIPROC_DIR makes
every process's counters add up in one scrape.

Access: only from METRICS_ALLOWED_NETWORKS (default: loopback and the private ranges),
judged on accounts.identity.audit.client_ip (which honours TRUSTED_PROXY_COUNT), and,
when METRICS_TOKEN is set, with `Authorization: Bearer <METRICS_TOKEN>` as well. Anyone
else gets a 404, as if there were no such page.
"""

from __future__ import annotations

import hmac
import ipaddress
import logging
import os
from collections.abc import Iterator
from functools import cache

import django_rq
from django.conf import settings
from django.db import DEFAULT_DB_ALIAS
from django.http import Http404, HttpRequest, HttpResponse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from accounts.identity.audit import client_ip
from common import redis_client
from common.db import cluster
from common.db.routing import replica_alias

logger = logging.getLogger(__name__)


@cache
def allowed_networks() -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    return tuple(
        ipaddress.ip_network(net, strict=False) for net in settings.METRICS_ALLOWED_NETWORKS
    )


def may_scrape(request: HttpRequest) -> bool:
    address = client_ip(request)
    if address is None:
        return False
    ip = ipaddress.ip_address(address)
    if not any(ip in network for network in allowed_networks()):
        return False
    token = settings.METRICS_TOKEN
    if token:
        given = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
        return hmac.compare_digest(given.encode(), token.encode())
    return True


class HubCollector(Collector):
    """Backlogs read at scrape time: RQ queue depth and oldest job, the outbox, webhooks."""

    def collect(self) -> Iterator[Metric]:
        now = timezone.now()
        depth = GaugeMetricFamily(
            "payhub_queue_depth", "Jobs waiting in an RQ queue", labels=["queue"]
        )
        oldest = GaugeMetricFamily(
            "payhub_queue_oldest_job_age_seconds",
            "Age of the oldest job waiting in an RQ queue",
            labels=["queue"],
        )
        redis_up = GaugeMetricFamily("payhub_redis_up", "1 when Redis answered this scrape")
        try:
            for name in settings.RQ_QUEUES:
                queue = django_rq.get_queue(name)
                depth.add_metric([name], queue.count)
                first = queue.get_jobs(0, 0)
                enqueued = first[0].enqueued_at if first else None
                age = (now - enqueued).total_seconds() if enqueued else 0.0
                oldest.add_metric([name], max(0.0, age))
            redis_up.add_metric([], 1)
        except Exception:  # noqa: BLE001 - a scrape must answer even with Redis down
            logger.warning("queue metrics unavailable", exc_info=True)
            redis_up.add_metric([], 0)
        yield depth
        yield oldest
        yield redis_up

        yield from self._cluster()

        try:
            yield from self._database_backlogs(now)
        except Exception:  # noqa: BLE001 - nor with the database down: /healthz tells that
            logger.warning("backlog metrics unavailable", exc_info=True)

    def _cluster(self) -> Iterator[Metric]:
        """Where the connections lead: the primary, the replica's lag, the standbys the
        primary streams to, the Redis master that Sentinel names. Each part answers alone."""
        primary = GaugeMetricFamily(
            "payhub_database_server",
            "The server this process's default connection reached (1), and its role",
            labels=["address", "role"],
        )
        try:
            server = cluster.server()
            primary.add_metric([server.address, server.role], 1)
        except Exception:  # noqa: BLE001 - /healthz says the database is down
            logger.warning("database server unknown", exc_info=True)
        yield primary
        if replica_alias() != DEFAULT_DB_ALIAS:
            try:
                yield GaugeMetricFamily(
                    "payhub_database_replica_lag_seconds",
                    "How late the replica alias's server is (0 when it has replayed all)",
                    value=cluster.lag_seconds(replica_alias()),
                )
            except Exception:  # noqa: BLE001
                logger.warning("replica lag unknown", exc_info=True)
        lag_bytes = GaugeMetricFamily(
            "payhub_database_standby_lag_bytes",
            "WAL the primary has written that a standby has not replayed yet",
            labels=["standby", "sync_state"],
        )
        lag_seconds = GaugeMetricFamily(
            "payhub_database_standby_replay_lag_seconds",
            "The primary's measure of a standby's replay lag",
            labels=["standby", "sync_state"],
        )
        try:
            for standby in cluster.standbys():
                labels = [standby.name, standby.sync_state]
                if standby.lag_bytes is not None:
                    lag_bytes.add_metric(labels, standby.lag_bytes)
                lag_seconds.add_metric(labels, standby.replay_lag_seconds or 0.0)
        except Exception:  # noqa: BLE001
            logger.warning("standbys unknown", exc_info=True)
        yield lag_bytes
        yield lag_seconds
        if settings.REDIS_SENTINELS:
            master = GaugeMetricFamily(
                "payhub_redis_master", "The Redis master Sentinel names (1)", labels=["address"]
            )
            try:
                address = redis_client.master_address()
                if address:
                    master.add_metric([f"{address[0]}:{address[1]}"], 1)
            except Exception:  # noqa: BLE001 - no sentinel answered
                logger.warning("redis master unknown", exc_info=True)
            yield master

    def _database_backlogs(self, now) -> Iterator[Metric]:
        from outbox import services as outbox
        from payments.models import WebhookDelivery

        backlog = outbox.backlog(now=now)
        yield GaugeMetricFamily(
            "payhub_outbox_pending", "Outbox jobs due and not done", value=backlog["pending"]
        )
        yield GaugeMetricFamily(
            "payhub_outbox_oldest_due_seconds",
            "How long the oldest due outbox job has waited (alert when it grows)",
            value=backlog["oldest_seconds"],
        )
        due = WebhookDelivery.objects.filter(
            status=WebhookDelivery.Status.PENDING, next_attempt_at__lte=now
        )
        first_due = (
            due.order_by("next_attempt_at").values_list("next_attempt_at", flat=True).first()
        )
        yield GaugeMetricFamily(
            "payhub_webhook_backlog",
            "Webhook deliveries due and not yet delivered",
            value=due.count(),
        )
        yield GaugeMetricFamily(
            "payhub_webhook_oldest_due_seconds",
            "How long the oldest due webhook delivery has waited",
            value=(now - first_due).total_seconds() if first_due else 0.0,
        )


def registry() -> CollectorRegistry:
    if "PROMETHEUS_MULTIPROC_DIR" in os.environ:
        from prometheus_client import multiprocess

        merged = CollectorRegistry()
        multiprocess.MultiProcessCollector(merged)
        merged.register(HubCollector())
        return merged
    local = CollectorRegistry()
    local.register(_Default())
    local.register(HubCollector())
    return local


class _Default(Collector):
    """This process's own registry (the default one), when no multiprocess directory is set."""

    def collect(self) -> Iterator[Metric]:
        yield from REGISTRY.collect()


@never_cache
def metrics(request: HttpRequest) -> HttpResponse:
    if not may_scrape(request):
        raise Http404("no such page")
    return HttpResponse(generate_latest(registry()), content_type=CONTENT_TYPE_LATEST)
