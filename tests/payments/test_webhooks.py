"""Webhooks: signed per Standard Webhooks, retried with backoff, delivered once."""

from __future__ import annotations

import json
import threading
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import django_rq
import pytest
from django.utils import timezone
from rq import SimpleWorker
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from accounts.identity.audit import Actor
from accounts.ledger.services import merchant_rotate_webhook_secret
from payments import services, webhooks
from payments.models import WebhookDelivery
from tests.factories import AccountFactory, MerchantFactory, fund


class Receiver:
    """A real HTTP endpoint on 127.0.0.1 that verifies signatures like a merchant would."""

    def __init__(self, fail_first: int = 0):
        self.fail_first = fail_first
        self.requests = 0
        self.accepted: list[dict] = []
        self.secret = ""
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["content-length"]))
                receiver.requests += 1
                if receiver.requests <= receiver.fail_first:
                    self.send_response(500)
                    self.end_headers()
                    return
                try:
                    payload = Webhook(receiver.secret).verify(body, dict(self.headers))
                except WebhookVerificationError:
                    self.send_response(401)
                    self.end_headers()
                    return
                receiver.accepted.append({"id": self.headers["webhook-id"], "payload": payload})
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver():
    made: list[Receiver] = []

    def make(fail_first: int = 0) -> Receiver:
        made.append(Receiver(fail_first))
        return made[-1]

    yield make
    for one in made:
        one.close()


def merchant_paying_to(url: str):
    merchant = MerchantFactory(webhook_url=url)
    account = AccountFactory(merchant=merchant, currency="EUR")
    fund(account, 10_000)
    payee = AccountFactory(merchant=None, currency="EUR")
    return merchant, account, payee


@pytest.mark.django_db
def test_a_receiver_that_fails_twice_gets_the_event_exactly_once(receiver):
    endpoint = receiver(fail_first=2)
    merchant, account, payee = merchant_paying_to(endpoint.url)
    endpoint.secret = merchant.webhook_secret
    payment = services.payment_authorize(
        merchant=merchant,
        debtor=account,
        creditor=payee,
        amount=1250,
        currency="EUR",
        reference="r1",
    )
    delivery = WebhookDelivery.objects.get(merchant=merchant)
    t0 = timezone.now()

    webhooks.deliver(delivery_id=delivery.id, now=t0)  # 500
    assert webhooks.deliver_due(now=t0 + timedelta(seconds=1)) == 0  # not due before the backoff
    assert webhooks.deliver_due(now=t0 + timedelta(seconds=6)) == 1  # 500 again
    assert webhooks.deliver_due(now=t0 + timedelta(seconds=6 + 301)) == 1  # delivered
    assert webhooks.deliver_due(now=t0 + timedelta(days=2)) == 0  # never again
    webhooks.deliver(delivery_id=delivery.id, now=t0 + timedelta(days=2))  # a stray job: no resend

    assert endpoint.requests == 3
    assert len(endpoint.accepted) == 1
    event = endpoint.accepted[0]
    assert event["id"] == delivery.message_id
    assert event["payload"]["type"] == "payment.completed"
    assert event["payload"]["data"]["id"] == str(payment.id)
    assert event["payload"]["data"]["amount"] == "12.50"
    delivery.refresh_from_db()
    assert delivery.status == "delivered" and delivery.attempt_count == 3
    assert [a.status_code for a in delivery.attempts.order_by("at")] == [500, 500, 204]


@pytest.mark.django_db
def test_delivery_gives_up_after_the_schedule_and_keeps_every_attempt(receiver, settings):
    settings.WEBHOOK_RETRY_SCHEDULE = [5, 10]
    endpoint = receiver(fail_first=100)
    merchant, account, payee = merchant_paying_to(endpoint.url)
    services.payment_authorize(
        merchant=merchant, debtor=account, creditor=payee, amount=100, currency="EUR"
    )
    delivery = WebhookDelivery.objects.get()
    now = timezone.now()
    for _ in range(5):
        webhooks.deliver_due(now=now)
        now += timedelta(seconds=11)
    delivery.refresh_from_db()
    assert delivery.status == "failed"
    assert delivery.attempts.count() == 3


@pytest.mark.django_db
def test_an_unreachable_endpoint_is_recorded_as_an_attempt(settings):
    merchant, account, payee = merchant_paying_to("http://127.0.0.1:9/nothing-listens")
    services.payment_authorize(
        merchant=merchant, debtor=account, creditor=payee, amount=100, currency="EUR"
    )
    delivery = WebhookDelivery.objects.get()
    webhooks.deliver(delivery_id=delivery.id)
    attempt = delivery.attempts.get()
    assert attempt.status_code is None and attempt.error
    delivery.refresh_from_db()
    assert delivery.status == "pending" and delivery.next_attempt_at > timezone.now()


@pytest.mark.django_db
def test_rotated_secret_signs_from_then_on(receiver):
    endpoint = receiver()
    merchant, account, payee = merchant_paying_to(endpoint.url)
    old_secret = merchant.webhook_secret
    merchant = merchant_rotate_webhook_secret(merchant_id=merchant.pk, actor=Actor.system("test"))
    assert merchant.webhook_secret != old_secret
    endpoint.secret = old_secret
    services.payment_authorize(
        merchant=merchant, debtor=account, creditor=payee, amount=100, currency="EUR"
    )
    webhooks.deliver(delivery_id=WebhookDelivery.objects.get().id)
    assert endpoint.accepted == []  # the old secret no longer verifies


@pytest.mark.django_db
def test_failed_and_refunded_payments_emit_their_events(receiver):
    endpoint = receiver()
    merchant, account, payee = merchant_paying_to(endpoint.url)
    services.payment_authorize(
        merchant=merchant, debtor=account, creditor=payee, amount=999_999, currency="EUR"
    )
    paid = services.payment_authorize(
        merchant=merchant, debtor=account, creditor=payee, amount=100, currency="EUR"
    )
    services.payment_refund(payment_id=paid.id, amount=40)
    assert list(
        WebhookDelivery.objects.order_by("created_at").values_list("event_type", flat=True)
    ) == [
        "payment.failed",
        "payment.completed",
        "payment.refunded",
    ]


@pytest.mark.django_db(transaction=True)
def test_the_first_attempt_is_enqueued_after_commit_and_run_by_a_worker(receiver):
    endpoint = receiver()
    merchant, account, payee = merchant_paying_to(endpoint.url)
    endpoint.secret = merchant.webhook_secret
    queue = django_rq.get_queue("webhooks")
    queue.empty()

    services.payment_authorize(
        merchant=merchant, debtor=account, creditor=payee, amount=100, currency="EUR"
    )

    assert queue.count == 1  # enqueued by the commit
    SimpleWorker([queue], connection=queue.connection).work(burst=True)
    assert len(endpoint.accepted) == 1
    assert json.loads(json.dumps(endpoint.accepted[0]["payload"]))["type"] == "payment.completed"
    assert WebhookDelivery.objects.get().status == "delivered"


@pytest.mark.django_db
def test_merchant_can_list_deliveries_and_rotate_the_secret(shop):
    old = shop.merchant.webhook_secret
    response = shop.client.post("/api/v1/webhooks/rotate-secret/")
    assert response.status_code == 200
    new = response.json()["webhook_secret"]
    assert new.startswith("whsec_") and new != old
    assert shop.client.get("/api/v1/webhooks/").json()["results"] == []


@pytest.mark.django_db
def test_payment_events_are_linked_to_their_payment_and_old_ones_are_linked_by_the_migration():
    import importlib

    from django.apps import apps
    from django.db import connection

    from payments import selectors

    merchant, account, payee = merchant_paying_to("http://127.0.0.1:9/hook")
    paid = services.payment_authorize(
        merchant=merchant, debtor=account, creditor=payee, amount=100, currency="EUR"
    )
    services.payment_refund(payment_id=paid.id, amount=40)
    other = services.payment_authorize(
        merchant=merchant, debtor=account, creditor=payee, amount=50, currency="EUR"
    )
    # events are linked as they are recorded
    assert [d.event_type for d in selectors.payment_webhook_deliveries(payment=paid)] == [
        "payment.completed",
        "payment.refunded",
    ]
    # given events recorded before the link existed (and one whose payload names no payment)
    WebhookDelivery.objects.update(payment=None)
    WebhookDelivery.objects.create(
        merchant=merchant, event_type="payment.completed", url="http://x", payload={"data": {}}
    )
    # when the migration's backfill runs
    migration = importlib.import_module("payments.migrations.0004_webhook_delivery_payment")
    migration.link(apps, connection)
    # then each old event points at the payment its payload names
    assert [d.event_type for d in selectors.payment_webhook_deliveries(payment=paid)] == [
        "payment.completed",
        "payment.refunded",
    ]
    assert [d.event_type for d in selectors.payment_webhook_deliveries(payment=other)] == [
        "payment.completed"
    ]
    assert WebhookDelivery.objects.filter(payment__isnull=True).count() == 1
