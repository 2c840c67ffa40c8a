"""Returns (pacs.004): the receiving bank's back office sends a credited transfer back.

`clearing_return_send` is a back-office decision that moves money: one service call,
audited in its transaction, that the lead routes through the decision gate of issue 18
(four eyes above the back-office threshold); there is no second approval mechanism here.
It debits the creditor's account back into the sender's clearing account, marks the
received payment `returned`, and queues the pacs.004 on the outbox. `return_received` is
the sender's side: the original debtor is credited back from the clearing account, the
payment becomes `returned`, the merchant hears `payment.returned`. Each return is applied
once (its MsgId, and the payment's state under its lock).
"""

from __future__ import annotations

from uuid import UUID

from django.db import transaction
from django.utils import timezone
from lxml import etree

from accounts.identity import audit
from accounts.identity.actions import AuditAction
from accounts.identity.audit import Actor
from accounts.ledger import money, posting
from clearing import documents, services
from clearing.inbound import Refusal, _lock_key
from clearing.iso import builders, readers
from clearing.models import Message, Peer
from payments import webhooks
from payments.models import Payment

# SEPA's return reasons (EPC SCT rulebook) and the recall reasons a return answers.
RETURN_REASONS = frozenset(
    {
        "AC01",
        "AC04",
        "AC06",
        "AG01",
        "AG02",
        "AM05",
        "BE04",
        "MD07",
        "MS02",
        "MS03",
        "RC01",
        "RR01",
        "RR02",
        "RR03",
        "RR04",
        "FOCR",
        "CNOR",
        "DNOR",
        "ERIN",
    }
)


@transaction.atomic
def clearing_return_send(
    *, payment_id: UUID, reason: str, actor: Actor, backoffice_action: str | None = None
) -> Payment:
    """Return a completed incoming transfer to the bank that sent it (in full)."""
    reason = reason.strip().upper()
    if reason not in RETURN_REASONS:
        raise services.ClearingError("invalid_reason", f"{reason!r} is not a return reason")
    payment = Payment.objects.select_for_update(of=("self",)).filter(pk=payment_id).first()
    if payment is None or payment.direction != Payment.Direction.INCOMING:
        raise services.ClearingError(
            "not_found", "no transfer received from another bank has this id"
        )
    if payment.status != Payment.Status.COMPLETED or payment.refunded_amount:
        raise services.ClearingError("invalid_state", f"cannot return a {payment.status} transfer")
    assert payment.clearing is not None and payment.ledger_transaction_id is not None
    peer = Peer.objects.get(bic=payment.clearing["peer_bic"])
    # The mirror of the credit: out of the customer's account, back to the peer's clearing
    # account. Refused (nothing changed) if the customer has spent it or the account is shut.
    posting.reverse(
        transaction_id=payment.ledger_transaction_id,
        description=f"SCT Inst {payment.uetr} returned to {peer.bic}: {reason}",
    )
    original = Message.objects.filter(
        direction=Message.Direction.INBOUND, peer=peer, kind=builders.PACS008, uetr=payment.uetr
    ).first()
    msg_id = builders.new_msg_id()
    body = builders.pacs004(
        builders.Return(
            msg_id=msg_id,
            created_at=timezone.now(),
            sender=services.hub_bic(),
            receiver=peer.bic,
            original_msg_id=original.msg_id if original else payment.clearing["message_id"],
            uetr=payment.uetr,  # type: ignore[arg-type]
            end_to_end_id=payment.end_to_end_id,
            instruction_id="",
            amount=payment.amount,
            currency=payment.currency,
            reason_code=reason,
        )
    )
    documents.send_later(
        kind=builders.PACS004,
        body=body,
        msg_id=msg_id,
        peer=peer,
        payment=payment,
        uetr=payment.uetr,
        reason=reason,
        answers=original,
    )
    payment.status = Payment.Status.RETURNED
    payment.clearing = {**payment.clearing, "return_reason": reason}
    payment.save(update_fields=["status", "clearing", "updated_at"])
    audit.record(
        actor=actor,
        action=AuditAction.CLEARING_RETURN,
        target=payment,
        reason=reason,
        message=msg_id,
        backoffice_action=backoffice_action,
    )
    webhooks.emit(
        merchant=payment.merchant,
        event_type="payment.returned",
        data=webhooks.payment_data(payment),
        payment=payment,
    )
    return payment


def return_received(*, peer: Peer, root: etree._Element, body: bytes) -> None:
    """The peer returns a transfer this hub sent: the debtor gets the money back."""
    ret = readers.pacs004(root)
    if ret.transactions != 1 or ret.uetr is None:
        raise Refusal(400, "one_transaction", "a return of one transfer with its UETR is expected")
    with transaction.atomic():
        _lock_key(f"clearing.return:{peer.pk}:{ret.msg_id}")
        if Message.objects.filter(
            direction=Message.Direction.INBOUND, peer=peer, kind=builders.PACS004, msg_id=ret.msg_id
        ).exists():
            return  # the same return again: applied once
        payment = (
            Payment.objects.select_for_update(of=("self",))
            .filter(direction=Payment.Direction.OUTGOING, uetr=ret.uetr, creditor_agent=peer.bic)
            .first()
        )
        if payment is None:
            raise Refusal(404, "unknown_transfer", "no transfer sent to you has this UETR")
        try:
            amount = money.to_minor(ret.amount, ret.currency)
        except Exception:
            amount = None
        if (amount, ret.currency) != (payment.amount, payment.currency):
            raise Refusal(400, "partial_return", "a return gives back the whole transfer")
        if payment.status != Payment.Status.COMPLETED:
            raise Refusal(409, "invalid_state", f"the transfer is {payment.status}")
        assert payment.ledger_transaction_id is not None and payment.clearing is not None
        posting.reverse(
            transaction_id=payment.ledger_transaction_id,
            description=f"SCT Inst {payment.uetr} returned by {peer.bic}: {ret.reason_code}",
        )
        payment.status = Payment.Status.RETURNED
        payment.clearing = {**payment.clearing, "return_reason": ret.reason_code}
        payment.save(update_fields=["status", "clearing", "updated_at"])
        Message.objects.create(
            direction=Message.Direction.INBOUND,
            peer=peer,
            kind=builders.PACS004,
            msg_id=ret.msg_id,
            uetr=ret.uetr,
            status=Message.Status.RECEIVED,
            reason_code=ret.reason_code,
            body=body,
            payment=payment,
        )
        webhooks.emit(
            merchant=payment.merchant,
            event_type="payment.returned",
            data=webhooks.payment_data(payment),
            payment=payment,
        )
        from clearing import recalls

        recalls.recall_accepted(payment)
