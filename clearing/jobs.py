"""Background work of the clearing app: thin, called through the outbox (payments/outbox.py)."""

from __future__ import annotations

from clearing import outbound


def deliver_transfer(message_id: int) -> str:
    return outbound.transfer_deliver(message_id)


def deliver_document(message_id: int) -> str:
    from clearing import returns

    return returns.document_deliver(message_id)
