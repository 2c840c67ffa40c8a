"""RQ jobs of the payments app: thin, they call services; each is safe to run twice."""

from __future__ import annotations

from uuid import UUID

from payments import idempotency, services, webhooks


def deliver_webhook(delivery_id: str) -> str:
    delivery = webhooks.deliver(delivery_id=UUID(delivery_id))
    return delivery.status if delivery else "not due"


def deliver_due_webhooks() -> int:
    return webhooks.enqueue_due()


def expire_authorizations() -> int:
    return services.expire_stale_authorizations()


def purge_idempotency_keys() -> int:
    return idempotency.purge_expired()
