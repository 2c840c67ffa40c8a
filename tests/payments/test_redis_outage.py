"""Redis down: a payment that committed answers 201 (issue 18, point 8).

Redis really stopped: every client of it (the queues, the cache, the API's throttle) is
pointed at a local port where nothing listens, and the requests go through the whole stack
with real commits (a transactional test: on-commit work runs as in production).
"""

from __future__ import annotations

import socket

import django_rq.settings
import pytest

from common import counters
from payments.models import Payment, WebhookDelivery

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def redis_stopped(settings, monkeypatch):
    with socket.socket() as probe:  # a port that was free a moment ago: nothing listens there
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"redis://127.0.0.1:{port}/0"
    for config in django_rq.settings.QUEUES.values():
        monkeypatch.setitem(config, "URL", url)
    settings.REDIS_URL = url
    settings.CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": url}
    }
    counters._redis.cache_clear()
    yield url
    counters._redis.cache_clear()


def test_payments_made_while_redis_is_down_answer_201_and_their_webhooks_wait(
    shop, redis_stopped, caplog
):
    shop.merchant.webhook_url = "https://shop.example/hooks"
    shop.merchant.save(update_fields=["webhook_url"])

    responses = [shop.pay("1.00", reference=f"order-{n}") for n in range(3)]

    assert [response.status_code for response in responses] == [201, 201, 201]
    assert {response.json()["status"] for response in responses} == {"completed"}
    assert Payment.objects.filter(debtor_account=shop.account).count() == 3
    # The events are recorded, waiting for the sweep once Redis is back: none is lost.
    assert WebhookDelivery.objects.filter(status="pending").count() == 3
    assert "the sweep will do its work" in caplog.text


def test_a_retry_with_the_same_idempotency_key_while_redis_is_down_pays_once(shop, redis_stopped):
    shop.merchant.webhook_url = "https://shop.example/hooks"
    shop.merchant.save(update_fields=["webhook_url"])

    first = shop.pay("2.00", idempotency_key="outage-1")
    again = shop.pay("2.00", idempotency_key="outage-1")

    assert (first.status_code, again.status_code) == (201, 201)
    assert first.json()["id"] == again.json()["id"]
    assert Payment.objects.filter(debtor_account=shop.account).count() == 1
