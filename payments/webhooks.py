"""Webhooks on the Standard Webhooks specification.

`emit` records a delivery inside the caller's transaction and enqueues its
first attempt on commit; `deliver` signs and POSTs it outside any database
transaction, records the attempt, and schedules a retry with backoff.

A WebhookDelivery row is its own outbox row (see outbox/services.py): written with
the payment, pending until a job marks it delivered or failed, and `enqueue_due`
(config/cron.py, every 15 s) sends a job for each one due, so a lost first job or a
Redis outage delays an event but never drops it. No second row on the payment's path.
"""

from __future__ import annotations

import json
import time
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

import django_rq
from django.conf import settings
from django.db import transaction
from django.utils import timezone
from rq.exceptions import NoSuchJobError
from rq.job import Job, JobStatus
from standardwebhooks.webhooks import Webhook

from accounts.ledger import money
from accounts.models import Merchant
from common import outbound
from outbox import services as outbox
from payments.models import Payment, WebhookAttempt, WebhookDelivery

LEASE = timedelta(seconds=60)  # a claimed attempt is retried if its worker died


def payment_data(payment: Payment) -> dict[str, Any]:
    return {
        "object": "payment",
        "id": str(payment.id),
        "status": payment.status,
        "amount": money.to_major(payment.amount, payment.currency),
        "currency": payment.currency,
        "debtor_account": payment.debtor_account.number,
        "creditor_account": payment.creditor_account.number,
        "reference": payment.reference,
        "failure_code": payment.failure_code or None,
        "batch": str(payment.batch_id) if payment.batch_id else None,
        "verification": payment.verification,
    }


def emit(
    *,
    merchant: Merchant | None,
    event_type: str,
    data: dict[str, Any],
    payment: Payment | None = None,
) -> WebhookDelivery | None:
    """Record an event for the merchant's endpoint (about `payment`, if given); delivery
    starts after commit. No merchant (a transfer into an account no merchant owns): none."""
    if merchant is None or not merchant.webhook_url:
        return None
    now = timezone.now()
    delivery = WebhookDelivery.objects.create(
        merchant=merchant,
        payment=payment,
        event_type=event_type,
        url=merchant.webhook_url,
        payload={"type": event_type, "timestamp": now.isoformat(), "data": data},
        next_attempt_at=now,
    )
    enqueue_on_commit(delivery.id)
    return delivery


def enqueue_on_commit(delivery_id: UUID) -> None:
    """Send the delivery once the transaction commits (never raising into the request: if
    Redis is away the payment still stands, and the sweep, enqueue_due, sends the event)."""
    outbox.after_commit(_enqueue, delivery_id)


def _enqueue(delivery_id: UUID) -> None:
    django_rq.get_queue("webhooks").enqueue("payments.jobs.deliver_webhook", str(delivery_id))


def _claim(delivery_id: UUID, now: datetime) -> WebhookDelivery | None:
    with transaction.atomic(durable=True):
        delivery = (
            WebhookDelivery.objects.select_for_update(skip_locked=True)
            .filter(pk=delivery_id, status=WebhookDelivery.Status.PENDING, next_attempt_at__lte=now)
            .select_related("merchant")
            .first()
        )
        if delivery is None:
            return None
        delivery.next_attempt_at = now + LEASE
        delivery.save(update_fields=["next_attempt_at"])
        return delivery


def deliver(*, delivery_id: UUID, now: datetime | None = None) -> WebhookDelivery | None:
    """One delivery attempt, if the delivery is due. Safe to run twice."""
    now = now or timezone.now()
    delivery = _claim(delivery_id, now)
    if delivery is None:
        return None
    body = json.dumps(delivery.payload, separators=(",", ":"))
    # The signature carries the real sending time: receivers reject stale timestamps.
    sent_at = timezone.now()
    signature = Webhook(delivery.merchant.webhook_secret).sign(delivery.message_id, sent_at, body)
    headers = {
        "content-type": "application/json",
        "user-agent": "payments-hub-webhooks/1",
        "webhook-id": delivery.message_id,
        "webhook-timestamp": str(int(sent_at.timestamp())),
        "webhook-signature": signature,
    }
    started = time.monotonic()
    status_code: int | None = None
    error = ""
    excerpt = ""
    try:
        # Public addresses only, checked after resolution and connected to as checked, no
        # redirect followed (common/outbound.py). What the merchant is shown of an attempt
        # is its status code or a short error: never what an internal service answered.
        answer = outbound.post(
            delivery.url,
            body=body.encode(),
            headers=headers,
            timeout=settings.WEBHOOK_TIMEOUT,
            allow_private=settings.WEBHOOK_ALLOW_PRIVATE,
        )
        status_code, excerpt = answer.status, answer.excerpt
        if 300 <= status_code < 400:
            error = f"HTTP {status_code}: redirects are not followed"
        elif not 200 <= status_code < 300:
            error = f"HTTP {status_code}"
    except outbound.OutboundRefused as refused:
        error = f"refused: {refused}"[:255]
    except (outbound.Urllib3Error, OSError, ValueError) as failure:
        error = _network_error(failure)
    duration_ms = int((time.monotonic() - started) * 1000)
    succeeded = status_code is not None and 200 <= status_code < 300
    return _record_attempt(
        delivery_id=delivery.pk,
        now=now,
        succeeded=succeeded,
        status_code=status_code,
        error=error,
        excerpt=excerpt,
        duration_ms=duration_ms,
    )


def _network_error(failure: Exception) -> str:
    """A short name for what went wrong on the network (not the library's full story)."""
    text = str(failure).lower()
    if "timed out" in text or "timeout" in text:
        return "timed out"
    if "refused" in text:
        return "connection refused"
    if "certificate" in text or "ssl" in text:
        return "TLS failed"
    return "no answer"


@transaction.atomic
def _record_attempt(
    *,
    delivery_id: UUID,
    now: datetime,
    succeeded: bool,
    status_code: int | None,
    error: str,
    excerpt: str,
    duration_ms: int,
) -> WebhookDelivery:
    delivery = WebhookDelivery.objects.select_for_update().get(pk=delivery_id)
    WebhookAttempt.objects.create(
        delivery=delivery,
        at=now,
        status_code=status_code,
        error=error[:255],
        response_excerpt=excerpt[:500],
        duration_ms=duration_ms,
    )
    delivery.attempt_count += 1
    schedule = settings.WEBHOOK_RETRY_SCHEDULE
    if succeeded:
        delivery.status = WebhookDelivery.Status.DELIVERED
        delivery.delivered_at = now
        delivery.next_attempt_at = None
    elif delivery.attempt_count > len(schedule):
        delivery.status = WebhookDelivery.Status.FAILED
        delivery.next_attempt_at = None
    else:
        delivery.next_attempt_at = now + timedelta(seconds=schedule[delivery.attempt_count - 1])
    delivery.save(update_fields=["attempt_count", "status", "delivered_at", "next_attempt_at"])
    return delivery


def deliver_due(*, now: datetime | None = None, limit: int = 500) -> int:
    """Attempt every pending delivery whose time has come (retries, lost enqueues)."""
    now = now or timezone.now()
    due = list(
        WebhookDelivery.objects.filter(
            status=WebhookDelivery.Status.PENDING, next_attempt_at__lte=now
        )
        .order_by("next_attempt_at")
        .values_list("id", flat=True)[:limit]
    )
    for delivery_id in due:
        deliver(delivery_id=delivery_id, now=now)
    return len(due)


def enqueue_due(*, now: datetime | None = None, limit: int = 1000) -> int:
    """Send a delivery job for each pending delivery that is due (a retry, or a first
    attempt whose job was lost) and has none waiting in the queue; how many were sent.

    Jobs rather than attempts inline: one endpoint that hangs for WEBHOOK_TIMEOUT must
    not hold up every other merchant's events behind it."""
    now = now or timezone.now()
    queue = django_rq.get_queue("webhooks", commit_mode="auto")
    sent = 0
    for delivery_id, attempt_count in (
        WebhookDelivery.objects.filter(
            status=WebhookDelivery.Status.PENDING, next_attempt_at__lte=now
        )
        .order_by("next_attempt_at")
        .values_list("id", "attempt_count")[:limit]
    ):
        job_id = f"webhook-{delivery_id}-{attempt_count}"
        try:
            if Job.fetch(job_id, connection=queue.connection).get_status() == JobStatus.QUEUED:
                continue
        except NoSuchJobError:
            pass
        queue.enqueue("payments.jobs.deliver_webhook", str(delivery_id), job_id=job_id)
        sent += 1
    return sent
