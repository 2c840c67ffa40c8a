"""What the operations team reads: /healthz, /readyz, /metrics and the JSON log lines."""

from __future__ import annotations

import logging

import pytest
from django.test import Client

from outbox import services as outbox
from tests.payments.conftest import Merchant

pytestmark = pytest.mark.django_db


@pytest.fixture
def shop(db):
    return Merchant("Shop")


class Records(logging.Handler):
    def __init__(self):
        super().__init__()
        self.events: list[dict] = []

    def emit(self, record):
        if isinstance(record.msg, dict):
            self.events.append(record.msg)


@pytest.fixture
def records():
    handler = Records()
    root = logging.getLogger()
    root.addHandler(handler)
    yield handler
    root.removeHandler(handler)


# --- health -----------------------------------------------------------------------------


def test_healthz_and_readyz_answer_200_when_all_is_well(client):
    for path in ("/healthz", "/readyz"):
        response = client.get(path)
        assert response.status_code == 200, response.json()
        assert response.json()["ok"] is True
    assert client.get("/readyz").json()["migrations"] == "ok"


def test_readyz_is_503_and_names_what_is_missing(client, monkeypatch):
    from django.db.migrations.executor import MigrationExecutor

    from config import views

    class Missing:
        app_label, name = "payments", "9999_future"

    monkeypatch.setattr(views, "_migrations_applied", False)
    monkeypatch.setattr(
        MigrationExecutor, "migration_plan", lambda self, targets: [(Missing, False)]
    )

    response = client.get("/readyz")

    assert response.status_code == 503
    assert "payments.9999_future" in response.json()["migrations"]


def test_healthz_is_503_without_redis(client, monkeypatch):
    import django_rq

    class Down:
        def ping(self):
            raise ConnectionError("Redis is down")

    monkeypatch.setattr(django_rq, "get_connection", lambda *a, **k: Down())

    response = client.get("/healthz")

    assert response.status_code == 503
    assert response.json()["redis"].startswith("error")
    assert response.json()["database"] == "ok"


# --- metrics ----------------------------------------------------------------------------


def test_metrics_show_payments_queues_outbox_and_webhooks(shop):
    assert shop.pay().status_code == 201

    response = Client(REMOTE_ADDR="127.0.0.1").get("/metrics")

    assert response.status_code == 200
    text = response.content.decode()
    for name in (
        'payhub_payments_total{channel="api",status="completed"}',
        'payhub_queue_depth{queue="batches"}',
        'payhub_queue_oldest_job_age_seconds{queue="default"}',
        "payhub_outbox_pending",
        "payhub_outbox_oldest_due_seconds",
        "payhub_webhook_backlog",
        "django_http_requests_total_by_method_total",
        "django_db_execute_total",
    ):
        assert name in text, name


def test_metrics_are_not_open_to_the_internet(settings):
    assert Client(REMOTE_ADDR="203.0.113.5").get("/metrics").status_code == 404
    # A client cannot claim a private address with a header unless a proxy is declared.
    forged = Client(REMOTE_ADDR="203.0.113.5", HTTP_X_FORWARDED_FOR="10.0.0.1")
    assert forged.get("/metrics").status_code == 404


def test_metrics_want_the_token_when_one_is_set(settings):
    settings.METRICS_TOKEN = "s3cret-scraper-token"
    local = Client(REMOTE_ADDR="10.1.2.3")

    assert local.get("/metrics").status_code == 404
    assert local.get("/metrics", HTTP_AUTHORIZATION="Bearer wrong").status_code == 404
    ok = local.get("/metrics", HTTP_AUTHORIZATION="Bearer s3cret-scraper-token")
    assert ok.status_code == 200


# --- logs -------------------------------------------------------------------------------


def test_a_payment_request_logs_one_line_with_its_ids(shop, records):
    response = shop.client.post(
        "/api/v1/payments/",
        {
            "debtor_account": shop.account.number,
            "creditor_account": shop.payee.number,
            "amount": "1.00",
            "currency": "EUR",
        },
        format="json",
        HTTP_X_REQUEST_ID="lb-0123456789",
    )

    assert response.status_code == 201
    assert response["X-Request-ID"] == "lb-0123456789"
    lines = [e for e in records.events if e.get("event") == "request"]
    line = lines[-1]
    assert line["request_id"] == "lb-0123456789"
    assert line["merchant_id"] == str(shop.merchant.pk)
    assert line["payment_id"] == response.json()["id"]
    assert line["status"] == 201 and line["path"] == "/api/v1/payments/"


def test_a_forged_request_id_is_replaced(shop):
    response = shop.client.get("/api/v1/payments/", HTTP_X_REQUEST_ID='x"\n{"level":"critical"}')

    assert response["X-Request-ID"] != 'x"\n{"level":"critical"}'
    assert len(response["X-Request-ID"]) == 32


SEEN: list[dict] = []


def log_something(value: str) -> str:
    import structlog

    SEEN.append(structlog.contextvars.get_contextvars())
    return value


def test_a_job_logs_with_the_request_that_asked_for_it():
    import structlog
    from django.db import transaction

    structlog.contextvars.bind_contextvars(request_id="req-from-the-web-1")
    with transaction.atomic():
        row = outbox.schedule(
            key="batch.validate:0b1d",
            job="tests.ops.test_operations.log_something",
            args=["x"],
            queue="default",
        )
    structlog.contextvars.clear_contextvars()
    SEEN.clear()

    outbox.run(row.pk)

    # Every log line of the job (structlog's merge_contextvars) carries these.
    assert SEEN[0]["request_id"] == "req-from-the-web-1"
    assert SEEN[0]["batch_id"] == "0b1d" and SEEN[0]["job"] == "batch.validate:0b1d"
