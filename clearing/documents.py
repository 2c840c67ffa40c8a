"""One way to send a document that is not a transfer (a pacs.004, a camt.056, a camt.029,
a pacs.028): validated against its schema, stored as an outbound Message, and posted by the
outbox after the caller's transaction commits, until the peer takes it.

Transfers (pacs.008) have their own path (outbound.py): their answer settles a payment.
"""

from __future__ import annotations

from uuid import UUID

from clearing import services, transport
from clearing.iso import validation
from clearing.models import Message, Peer
from outbox import services as outbox
from payments.models import Payment

DELIVER_JOB = "clearing.jobs.deliver_document"


def send_later(
    *,
    kind: str,
    body: bytes,
    msg_id: str,
    peer: Peer,
    payment: Payment | None,
    uetr: UUID | None,
    reason: str = "",
    answers: Message | None = None,
) -> Message:
    """Check the document against its XSD, store it and schedule its delivery (in the
    caller's transaction: the document exists exactly when the change that sends it does)."""
    validation.validate(body, expect=kind)
    message = Message.objects.create(
        direction=Message.Direction.OUTBOUND,
        peer=peer,
        kind=kind,
        msg_id=msg_id,
        uetr=uetr,
        status=Message.Status.PENDING,
        reason_code=reason,
        body=body,
        payment=payment,
        answers=answers,
    )
    outbox.schedule(
        key=f"clearing.send:{message.pk}", job=DELIVER_JOB, args=[message.pk], queue="default"
    )
    return message


def deliver(message_id: int) -> str:
    """The outbox job: post the document until the peer takes it (200 or 202); the peer
    takes it once by its MsgId, so a resend after a lost answer does no harm."""
    message = Message.objects.select_related("peer").get(pk=message_id)
    if message.status != Message.Status.PENDING:
        return "delivered already"
    Message.objects.filter(pk=message.pk).update(attempts=message.attempts + 1)
    try:
        answer = transport.post(
            peer=message.peer, body=bytes(message.body), sender_bic=services.hub_bic()
        )
        if answer.status not in (200, 202):
            raise transport.TransportError(
                f"{message.peer.bic} answered {answer.status}: {answer.body[:300]!r}"
            )
    except transport.TransportError as error:
        Message.objects.filter(pk=message.pk).update(last_error=str(error)[:500])
        raise
    Message.objects.filter(pk=message.pk).update(status=Message.Status.SENT, last_error="")
    return "delivered"
