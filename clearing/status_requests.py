"""Status requests (pacs.028.001.03) on both sides.

Receiving: a pacs.028 about a transfer this hub received is answered `200` with the pacs.002
it answered first (ACSC, or RJCT with its reason), the same bytes. About a transfer it never
received, the hub answers RJCT `AG09` (payment not received) and binds itself to it: the
verdict is stored as the transfer's answer, so the pacs.008, should it arrive after all, gets
that same RJCT and is never credited. Both banks then agree that the transfer failed, and the
sender may reverse it without guessing (the EPC SCT Inst rulebook: a transfer not confirmed
in time is not credited; the receiver never credits after the time-out).

Sending: a transfer still pending `CLEARING_STATUS_REQUEST_SECONDS` after it was sent is
asked about with a pacs.028 instead of a blind resend of its pacs.008; the answer (a pacs.002)
is applied as any other (outbound.status_apply). A peer that does not take pacs.028 (422)
gets the pacs.008 again, which it answers the same way.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from lxml import etree

from clearing import services, transport
from clearing.inbound import Refusal, _lock_key
from clearing.iso import builders, readers, validation
from clearing.iso.status_request import (
    PACS028,
    IncomingStatusRequest,
    StatusRequest,
    pacs028,
    read,
)
from clearing.models import Message, Peer

logger = logging.getLogger(__name__)

NOT_RECEIVED = "AG09"  # ExternalStatusReason1Code: payment not received


def status_request_received(*, peer: Peer, root: etree._Element, body: bytes) -> bytes:
    """The pacs.002 that answers the peer's pacs.028 (see the module's doc)."""
    request = read(root)
    if request.transactions != 1 or request.uetr is None:
        raise Refusal(400, "one_transaction", "a status request about one transfer is expected")
    if request.original_kind and request.original_kind != builders.PACS008:
        raise Refusal(
            422, "unsupported_message", f"status of a {request.original_kind} is not kept"
        )
    if request.instructing_agent and request.instructing_agent != peer.bic:
        raise Refusal(403, "agent_not_signer", "the request's instructing agent did not sign it")
    with transaction.atomic():
        # The lock of the transfer itself: a pacs.008 racing this request waits, then finds it.
        _lock_key(f"clearing.transfer:{peer.pk}:{request.uetr}")
        if not Message.objects.filter(
            direction=Message.Direction.INBOUND, peer=peer, kind=PACS028, msg_id=request.msg_id
        ).exists():
            Message.objects.create(
                direction=Message.Direction.INBOUND,
                peer=peer,
                kind=PACS028,
                msg_id=request.msg_id,
                uetr=request.uetr,
                status=Message.Status.RECEIVED,
                body=body,
            )
        seen = (
            Message.objects.filter(
                direction=Message.Direction.INBOUND,
                peer=peer,
                kind=builders.PACS008,
                uetr=request.uetr,
            )
            .order_by("id")
            .first()
        )
        answer = seen.answered_by.order_by("id").first() if seen else None
        if answer is not None:
            return bytes(answer.body)
        return _never_received(peer=peer, request=request)


def _never_received(*, peer: Peer, request: IncomingStatusRequest) -> bytes:
    """RJCT AG09, stored as the transfer's answer: a late pacs.008 gets it too."""
    msg_id = request.original_msg_id or f"NOTRCVD-{request.msg_id}"[:35]
    if Message.objects.filter(
        direction=Message.Direction.INBOUND, peer=peer, kind=builders.PACS008, msg_id=msg_id
    ).exists():
        msg_id = f"NOTRCVD-{request.uetr.hex}"[:35]  # type: ignore[union-attr]
    answer = builders.pacs002(
        builders.Status(
            msg_id=builders.new_msg_id(),
            created_at=timezone.now(),
            sender=services.hub_bic(),
            receiver=peer.bic,
            original_msg_id=msg_id,
            original_kind=builders.PACS008,
            uetr=request.uetr,  # type: ignore[arg-type]
            end_to_end_id=request.end_to_end_id,
            instruction_id=request.instruction_id,
            accepted=False,
            reason_code=NOT_RECEIVED,
        )
    )
    validation.validate(answer, expect=builders.PACS002)
    placeholder = Message.objects.create(
        direction=Message.Direction.INBOUND,
        peer=peer,
        kind=builders.PACS008,
        msg_id=msg_id,
        uetr=request.uetr,
        status=Message.Status.REJECTED,
        reason_code=NOT_RECEIVED,
        body=b"",  # never received: this row stands for it, so that it is refused if it comes
        last_error=f"never received; refused on the status request {request.msg_id}"[:500],
    )
    Message.objects.create(
        direction=Message.Direction.OUTBOUND,
        peer=peer,
        kind=builders.PACS002,
        msg_id=readers.msg_id(validation.parse_xml(answer)),
        uetr=request.uetr,
        status=Message.Status.REJECTED,
        reason_code=NOT_RECEIVED,
        body=answer,
        answers=placeholder,
    )
    logger.warning(
        "clearing: status request about a transfer never received; refused for good",
        extra={"uetr": str(request.uetr), "peer": peer.bic},
    )
    return answer


def post_transfer(message: Message) -> transport.Answer:
    """What the outbox's transfer job posts: the pacs.008; or, once the transfer has waited
    CLEARING_STATUS_REQUEST_SECONDS since it was sent, a pacs.028 about it (the pacs.008
    again to a peer that answers 422: it does not take status requests)."""
    sender = services.hub_bic()
    if message.attempts == 0:
        return transport.post(peer=message.peer, body=bytes(message.body), sender_bic=sender)
    # Waited since the pacs.008 was written (its CreDtTm, the acceptance time the receiver's
    # time-out runs from), not since its row was made: a batch's transfer is written when it
    # is first posted, which may be long after its chunk made it.
    transfer = readers.pacs008(validation.parse_xml(bytes(message.body)))
    due = timedelta(seconds=settings.CLEARING_STATUS_REQUEST_SECONDS)
    if timezone.now() - transfer.created_at < due:
        return transport.post(peer=message.peer, body=bytes(message.body), sender_bic=sender)
    msg_id = builders.new_msg_id()
    body = pacs028(
        StatusRequest(
            msg_id=msg_id,
            created_at=timezone.now(),
            sender=sender,
            receiver=message.peer.bic,
            original_msg_id=message.msg_id,
            original_created_at=transfer.created_at,
            uetr=message.uetr,  # type: ignore[arg-type]
            end_to_end_id=transfer.end_to_end_id,
            instruction_id=transfer.instruction_id,
        )
    )
    validation.validate(body, expect=PACS028)
    request = Message.objects.create(
        direction=Message.Direction.OUTBOUND,
        peer=message.peer,
        kind=PACS028,
        msg_id=msg_id,
        uetr=message.uetr,
        status=Message.Status.PENDING,
        body=body,
        answers=message,
        payment_id=message.payment_id,
        attempts=1,
    )
    try:
        answer = transport.post(peer=message.peer, body=body, sender_bic=sender)
    except transport.TransportError as error:
        Message.objects.filter(pk=request.pk).update(last_error=str(error)[:500])
        raise
    if answer.status == 422:
        Message.objects.filter(pk=request.pk).update(last_error="not taken (422): pacs.008 again")
        return transport.post(peer=message.peer, body=bytes(message.body), sender_bic=sender)
    if answer.status == 200:
        Message.objects.filter(pk=request.pk).update(status=Message.Status.SENT)
    return answer
