"""Background work of the clearing app: thin, called through the outbox (outbox/services.py)."""

from __future__ import annotations

from clearing import outbound


def deliver_transfer(message_id: int) -> str:
    return outbound.transfer_deliver(message_id)


def deliver_transfers(peer_id: int, message_ids: list[int]) -> str:
    from clearing import batched

    return batched.transfers_deliver(peer_id, message_ids)


def deliver_document(message_id: int) -> str:
    from clearing import documents

    return documents.deliver(message_id)


def purge_seen_signatures() -> int:
    """Signatures past twice their maximum age cannot be replayed any more (refused as stale)."""
    from datetime import timedelta

    from django.conf import settings
    from django.utils import timezone

    from clearing.models import SeenSignature

    cutoff = timezone.now() - timedelta(seconds=2 * settings.CLEARING_SIGNATURE_MAX_AGE_SECONDS)
    deleted, _ = SeenSignature.objects.filter(seen_at__lt=cutoff).delete()
    return deleted
