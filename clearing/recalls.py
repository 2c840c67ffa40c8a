"""Recalls: a merchant asks for a completed outgoing transfer back (camt.056); the receiving
bank's back office accepts (a pacs.004 returns the money, reason FOCR) or refuses (a
camt.029 with the reason). Both outcomes reach the merchant in the payment's `recall` and by
webhook (`payment.recall_accepted`, `payment.recall_rejected`).

`clearing_recall_answer` is a back-office decision that moves money (on acceptance): the
lead routes it through the decision gate (issue 18); it is one audited service call here.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from django.db import transaction
from django.utils import timezone
from lxml import etree

from accounts.identity import audit
from accounts.identity.actions import AuditAction
from accounts.identity.audit import Actor
from accounts.ledger.errors import InvalidState
from accounts.models import Merchant
from clearing import documents, returns, services
from clearing.inbound import Refusal, _lock_key
from clearing.iso import builders, readers, validation
from clearing.models import Message, Peer
from payments import webhooks
from payments.models import Payment

RECALL_REASONS = ("DUPL", "TECH", "FRAD", "CUST")
# ExternalPaymentCancellationRejection1Code values a back office gives for a refusal.
REFUSAL_REASONS = frozenset(
    {"CUST", "LEGL", "AC04", "AM04", "NOAS", "NOOR", "ARDT", "ARPL", "AGNT"}
)


def _emit(payment: Payment, event: str) -> None:
    webhooks.emit(
        merchant=payment.merchant,
        event_type=event,
        data=webhooks.payment_data(payment),
        payment=payment,
    )


@transaction.atomic
def payment_recall(*, payment_id: UUID, merchant: Merchant, reason: str, actor: Actor) -> Payment:
    """The merchant asks the receiving bank to send a completed transfer back."""
    if reason not in RECALL_REASONS:
        raise InvalidState(f"a recall's reason is one of {', '.join(RECALL_REASONS)}")
    payment = (
        Payment.objects.select_for_update(of=("self",))
        .filter(pk=payment_id, merchant=merchant)
        .first()
    )
    if payment is None:
        raise Payment.DoesNotExist
    if payment.direction != Payment.Direction.OUTGOING or not payment.clearing:
        raise InvalidState("only a transfer to another bank can be recalled")
    if payment.status != Payment.Status.COMPLETED:
        raise InvalidState(f"cannot recall a {payment.status} transfer")
    if payment.recall and payment.recall.get("status") in ("requested", "accepted"):
        raise InvalidState(f"this transfer's recall is {payment.recall['status']} already")
    peer = Peer.objects.get(bic=payment.clearing["peer_bic"])
    msg_id = builders.new_msg_id()
    body = builders.camt056(
        builders.Recall(
            msg_id=msg_id,
            created_at=timezone.now(),
            sender=services.hub_bic(),
            receiver=peer.bic,
            case_id=msg_id,
            case_creator=services.hub_bic(),
            original_msg_id=payment.clearing["message_id"],
            uetr=payment.uetr,  # type: ignore[arg-type]
            end_to_end_id=payment.end_to_end_id,
            amount=payment.amount,
            currency=payment.currency,
            reason_code=reason,
        )
    )
    documents.send_later(
        kind=builders.CAMT056,
        body=body,
        msg_id=msg_id,
        peer=peer,
        payment=payment,
        uetr=payment.uetr,
        reason=reason,
    )
    payment.recall = {"status": "requested", "reason": reason}
    payment.save(update_fields=["recall", "updated_at"])
    audit.record(actor=actor, action=AuditAction.CLEARING_RECALL, target=payment, reason=reason)
    return payment


def _case_answer(
    *, payment: Payment, peer: Peer, case_id: str, status: str, reason: str = ""
) -> tuple[str, bytes]:
    """A camt.029 about the recall of a received transfer: (its MsgId, its bytes)."""
    assert payment.clearing is not None
    msg_id = builders.new_msg_id()
    body = builders.camt029(
        builders.Recall(
            msg_id=msg_id,
            created_at=timezone.now(),
            sender=services.hub_bic(),
            receiver=peer.bic,
            case_id=case_id or msg_id,
            case_creator=peer.bic,
            original_msg_id=payment.clearing["message_id"],
            uetr=payment.uetr,  # type: ignore[arg-type]
            end_to_end_id=payment.end_to_end_id,
            amount=payment.amount,
            currency=payment.currency,
            reason_code=reason,
        ),
        status=status,
    )
    validation.validate(body, expect=builders.CAMT029)
    return msg_id, body


def recall_received(*, peer: Peer, root: etree._Element, body: bytes) -> bytes:
    """The peer asks for a transfer it sent back. Answered at once with a camt.029: PDCR
    (pending: the back office will decide, and its final answer follows as a pacs.004 or a
    camt.029 RJCR), or RJCR ARDT when the transfer was returned already. The same camt.056
    again gets the same answer, and changes nothing."""
    case = readers.camt056(root)
    if case.transactions != 1 or case.uetr is None:
        raise Refusal(400, "one_transaction", "a recall of one transfer with its UETR is expected")
    with transaction.atomic():
        _lock_key(f"clearing.case:{peer.pk}:{case.msg_id}")
        seen = Message.objects.filter(
            direction=Message.Direction.INBOUND,
            peer=peer,
            kind=builders.CAMT056,
            msg_id=case.msg_id,
        ).first()
        answer = seen.answered_by.order_by("id").first() if seen else None
        if answer is not None:
            return bytes(answer.body)
        payment = (
            Payment.objects.select_for_update(of=("self",))
            .filter(direction=Payment.Direction.INCOMING, uetr=case.uetr, debtor_agent=peer.bic)
            .first()
        )
        if payment is None or payment.clearing is None:
            raise Refusal(404, "unknown_transfer", "no transfer received from you has this UETR")
        if seen is None:
            seen = Message.objects.create(
                direction=Message.Direction.INBOUND,
                peer=peer,
                kind=builders.CAMT056,
                msg_id=case.msg_id,
                uetr=case.uetr,
                status=Message.Status.RECEIVED,
                reason_code=case.reason_code,
                body=body,
                payment=payment,
            )
            if payment.status == Payment.Status.COMPLETED:
                payment.recall = {
                    "status": "requested",
                    "reason": case.reason_code,
                    "case_id": case.case_id,
                    "message_id": case.msg_id,
                }
                payment.save(update_fields=["recall", "updated_at"])
        if payment.status == Payment.Status.RETURNED:
            status, reason = builders.REFUSED, "ARDT"  # already returned
        else:
            status, reason = builders.PENDING, ""
        msg_id, answer_body = _case_answer(
            payment=payment, peer=peer, case_id=case.case_id, status=status, reason=reason
        )
        Message.objects.create(
            direction=Message.Direction.OUTBOUND,
            peer=peer,
            kind=builders.CAMT029,
            msg_id=msg_id,
            uetr=case.uetr,
            status=Message.Status.SENT,
            reason_code=reason or status,
            body=answer_body,
            answers=seen,
            payment=payment,
        )
        return answer_body


@transaction.atomic
def clearing_recall_answer(
    *,
    payment_id: UUID,
    accept: bool,
    reason: str = "",
    actor: Actor,
    backoffice_action: str | None = None,
) -> Payment:
    """The back office answers a recall of a received transfer: accept (a pacs.004, FOCR) or
    refuse (a camt.029 with `reason`)."""
    payment = Payment.objects.select_for_update(of=("self",)).filter(pk=payment_id).first()
    if payment is None or payment.direction != Payment.Direction.INCOMING:
        raise services.ClearingError(
            "not_found", "no transfer received from another bank has this id"
        )
    recall: dict[str, Any] = dict(payment.recall or {})
    if recall.get("status") != "requested":
        raise services.ClearingError("invalid_state", "this transfer has no recall to answer")
    if accept:
        payment = returns.clearing_return_send(
            payment_id=payment.pk, reason="FOCR", actor=actor, backoffice_action=backoffice_action
        )
        recall.update(status="accepted")
    else:
        reason = reason.strip().upper()
        if reason not in REFUSAL_REASONS:
            raise services.ClearingError(
                "invalid_reason",
                f"a refusal's reason is one of {', '.join(sorted(REFUSAL_REASONS))}",
            )
        assert payment.clearing is not None
        peer = Peer.objects.get(bic=payment.clearing["peer_bic"])
        msg_id, body = _case_answer(
            payment=payment,
            peer=peer,
            case_id=recall.get("case_id") or recall.get("message_id") or "",
            status=builders.REFUSED,
            reason=reason,
        )
        documents.send_later(
            kind=builders.CAMT029,
            body=body,
            msg_id=msg_id,
            peer=peer,
            payment=payment,
            uetr=payment.uetr,
            reason=reason,
        )
        recall.update(status="refused", refusal_reason=reason)
    payment.recall = recall
    payment.save(update_fields=["recall", "updated_at"])
    audit.record(
        actor=actor,
        action=AuditAction.CLEARING_RECALL_ANSWER,
        target=payment,
        accepted=accept,
        reason=reason,
        backoffice_action=backoffice_action,
    )
    return payment


def refusal_received(*, peer: Peer, root: etree._Element, body: bytes) -> None:
    """The peer's camt.029 about this hub's recall, sent on its own or as the answer to the
    camt.056: RJCR refuses it (the merchant hears why); PDCR says it is pending there (kept,
    nothing changes: the final answer follows). Each is taken once, by its MsgId."""
    case = readers.camt029(root)
    if case.transactions != 1 or case.uetr is None:
        raise Refusal(400, "one_transaction", "an answer about one transfer is expected")
    with transaction.atomic():
        _lock_key(f"clearing.case:{peer.pk}:{case.msg_id}")
        if Message.objects.filter(
            direction=Message.Direction.INBOUND,
            peer=peer,
            kind=builders.CAMT029,
            msg_id=case.msg_id,
        ).exists():
            return
        payment = (
            Payment.objects.select_for_update(of=("self",))
            .filter(direction=Payment.Direction.OUTGOING, uetr=case.uetr, creditor_agent=peer.bic)
            .first()
        )
        if payment is None or not payment.recall:
            raise Refusal(404, "unknown_recall", "no recall of this hub has this UETR")
        refused = case.status == builders.REFUSED
        if refused and payment.recall.get("status") != "requested":
            raise Refusal(409, "recall_not_open", "this recall is answered already")
        Message.objects.create(
            direction=Message.Direction.INBOUND,
            peer=peer,
            kind=builders.CAMT029,
            msg_id=case.msg_id,
            uetr=case.uetr,
            status=Message.Status.RECEIVED,
            reason_code=case.reason_code or case.status[:4],
            body=body,
            payment=payment,
        )
        if not refused:
            return  # pending at the peer (PDCR): its final answer follows
        payment.recall = {**payment.recall, "status": "refused", "refusal_reason": case.reason_code}
        payment.save(update_fields=["recall", "updated_at"])
        _emit(payment, "payment.recall_rejected")


def recall_accepted(payment: Payment) -> None:
    """A return that answers this hub's open recall (returns.return_received calls it)."""
    if payment.recall and payment.recall.get("status") == "requested":
        payment.recall = {**payment.recall, "status": "accepted"}
        payment.save(update_fields=["recall", "updated_at"])
        _emit(payment, "payment.recall_accepted")
