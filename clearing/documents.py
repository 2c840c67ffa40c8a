"""One way to send a document that is not a transfer (a pacs.004, a camt.056, a camt.029,
a pacs.028): validated against its schema, stored as an outbound Message, and posted by the
outbox after the caller's transaction commits, until the peer takes it.

Transfers (pacs.008) have their own path (outbound.py): their answer settles a payment.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any
from uuid import UUID

from clearing import services, transport
from clearing.inbound import Refusal
from clearing.iso import builders, validation
from clearing.models import Message, Peer
from outbox import services as outbox
from payments.models import Payment

logger = logging.getLogger(__name__)

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
        problem = _take_answer(message, answer) if answer.status == 200 else ""
    except transport.TransportError as error:
        Message.objects.filter(pk=message.pk).update(last_error=str(error)[:500])
        raise
    Message.objects.filter(pk=message.pk).update(status=Message.Status.SENT, last_error=problem)
    return "delivered"


def _answer_of(kind: str) -> tuple[str, Callable[..., Any]] | None:
    """The document that answers this kind in the response's body, and what applies it."""
    from clearing import recalls

    if kind == builders.CAMT056:
        return builders.CAMT029, recalls.refusal_received
    return None


def _take_answer(message: Message, answer: transport.Answer) -> str:
    """Apply the answering document of a 200 (a camt.029 for a camt.056). One that is not a
    valid document of the kind expected is no answer: the document is posted again (the
    peer answers a resend the same). One the hub cannot apply is kept as the error."""
    expected = _answer_of(message.kind)
    if expected is None or not answer.body:
        return ""
    kind, apply = expected
    try:
        _kind, root, _document = validation.validate(answer.body, expect=kind)
    except validation.InvalidDocument as error:
        raise transport.TransportError(f"the answer is not a valid {kind}: {error}") from error
    try:
        apply(peer=message.peer, root=root, body=answer.body)
    except Refusal as refusal:
        logger.warning(
            "clearing: %s's answer to %s not applied: %s",
            message.peer.bic,
            message.msg_id,
            refusal.detail,
        )
        return f"answer not applied: {refusal.detail}"[:500]
    return ""
