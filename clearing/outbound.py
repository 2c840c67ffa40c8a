"""Transfers this hub sends to other banks, and the answers that settle them.

`transfer_send` debits the debtor into the peer's clearing account, records the payment
`pending` and the pacs.008 to send, and schedules its sending on the outbox, all in one
transaction. `transfer_deliver` (the outbox job, never inside that transaction) posts the
pacs.008 and applies the pacs.002: ACSC completes the payment, RJCT reverses the debit with
the peer's reason. No answer: the payment stays pending, its funds with the peer's clearing
account, and the outbox sends the same pacs.008 again until an answer comes (the receiver
answers a resend with what it answered first, or AB05 once the time-out has passed without
it having credited anything). See docs/clearing.md.
"""

from __future__ import annotations

import logging
import uuid
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from lxml import etree

from accounts.ledger import posting
from accounts.models import Account, Merchant
from clearing import rows, services, settlement, status_requests, transport
from clearing.inbound import Refusal, clearing_info
from clearing.iso import builders, readers, validation
from clearing.models import Message, Peer
from common.db import pgsql
from outbox import services as outbox
from outbox.models import OutboxJob
from payments import instant_limits, webhooks
from payments.models import MerchantAPIKey, Payment
from payments.services import ACCOUNT_STATE_FAILURES

logger = logging.getLogger(__name__)

SEND_JOB = "clearing.jobs.deliver_transfer"
# What an answer changes on the payment (status_apply).
SETTLED_FIELDS = [
    "status",
    "captured_amount",
    "failure_code",
    "failure_message",
    "clearing",
    "updated_at",
]


def peer_serving(iban: str) -> str | None:
    """The BIC of the peer that serves the IBAN (payments/external.py's question)."""
    iban = services.normalise_iban(iban)
    if not services.is_iban(iban):
        return None
    peer = services.peer_for_iban(iban)
    return peer.bic if peer else None


def transfer_of(
    payment: Payment, *, msg_id: str, peer: Peer, accepted_at: datetime | None = None
) -> builders.Transfer:
    """The pacs.008 of a payment; its acceptance time is the payment's creation unless given
    (a batch row's transfer is accepted when it is first sent: clearing/batched.py)."""
    return builders.Transfer(
        msg_id=msg_id,
        created_at=accepted_at or payment.created_at,
        uetr=payment.uetr,  # type: ignore[arg-type]
        end_to_end_id=payment.end_to_end_id,
        instruction_id=payment.id.hex[:35],
        amount=payment.amount,
        currency=payment.currency,
        debtor_agent=services.hub_bic(),
        creditor_agent=peer.bic,
        debtor_name=payment.debtor_name,
        debtor_iban=payment.debtor_iban,
        creditor_name=payment.creditor_name,
        creditor_iban=payment.creditor_iban,
        creditor_address=payment.creditor_address or {},
        remittance=payment.reference,
        debtor_address=payment.debtor_address or {},
    )


def outgoing_fields(
    *,
    peer: Peer,
    msg_id: str,
    uetr: uuid.UUID,
    debtor_name: str,
    debtor_iban: str,
    creditor_name: str,
    creditor_iban: str,
    creditor_address: dict[str, Any] | None,
) -> dict[str, Any]:
    """What makes a payment a transfer to another bank, pending its answer (the API's
    `transfer_send` and a batch's rows, clearing/batched.py)."""
    return {
        "status": Payment.Status.PENDING,
        "direction": Payment.Direction.OUTGOING,
        "debtor_name": debtor_name[:140],
        "debtor_iban": debtor_iban,
        "debtor_agent": services.hub_bic(),
        "creditor_name": creditor_name[:140],
        "creditor_iban": creditor_iban,
        "creditor_agent": peer.bic,
        "creditor_address": creditor_address,
        "uetr": uetr,
        "clearing": clearing_info(
            peer_bic=peer.bic, message_id=msg_id, uetr=uetr, status="PDNG", reason_code=None
        ),
    }


# Joins the caller's transaction without a savepoint (the API's, with the Idempotency-Key's
# record): whatever it raises rolls back the whole, as the API's errors do anyway.
@transaction.atomic(savepoint=False)
def transfer_send(
    *,
    merchant: Merchant,
    debtor: Account,
    creditor_iban: str,
    creditor_name: str,
    creditor_address: dict[str, Any],
    amount: int,
    currency: str,
    reference: str = "",
    end_to_end_id: str = "",
    api_key: MerchantAPIKey | None = None,
    verification: dict | None = None,
) -> tuple[Payment, int | None]:
    """Debit the debtor into the serving peer's clearing account and queue the pacs.008.

    Returns the payment (`pending`, or `failed` for the debtor account's state) and the
    outbox row that sends it. An IBAN no peer serves raises ClearingError AC01 before
    anything is written."""
    iban = services.normalise_iban(creditor_iban)
    peer = services.peer_for_iban(iban) if services.is_iban(iban) else None
    if peer is None:
        raise services.ClearingError("AC01", f"no bank on the network serves {iban}")
    if debtor.merchant_id != merchant.pk or debtor.kind != Account.Kind.CUSTOMER:
        raise services.ClearingError("AC01", "the debtor account is not the merchant's")
    clearing = services.clearing_account(peer=peer, currency=currency)
    uetr = uuid.uuid4()
    msg_id = builders.new_msg_id()
    payment = Payment(
        merchant=merchant,
        debtor_account=debtor,
        creditor_account=clearing,
        amount=amount,
        currency=currency,
        reference=reference[:140],
        end_to_end_id=(end_to_end_id or uetr.hex)[:35],
        api_key=api_key,
        **outgoing_fields(
            peer=peer,
            msg_id=msg_id,
            uetr=uetr,
            debtor_name=debtor.name or merchant.name,
            debtor_iban=debtor.number,
            creditor_name=creditor_name,
            creditor_iban=iban,
            creditor_address=creditor_address,
        ),
        verification=verification,  # Verification of Payee, asked before sending
    )
    # The document is written and checked before the accounts are locked: every transfer
    # to this peer locks its clearing account, so the locked stretch stays short.
    payment.created_at = timezone.now()  # the acceptance time written in the pacs.008
    body = builders.pacs008(transfer_of(payment, msg_id=msg_id, peer=peer))
    validation.validate(body, expect=builders.PACS008)
    locked = posting.lock_accounts([debtor.pk, clearing.pk])
    try:
        posting.check_transfer(
            debtor=locked[debtor.pk], creditor=locked[clearing.pk], amount=amount, currency=currency
        )
        instant_limits.check(locked[debtor.pk], amount)  # AM14, under the lock
    except ACCOUNT_STATE_FAILURES as refusal:
        payment.status = Payment.Status.FAILED
        payment.failure_code = refusal.code
        payment.failure_message = refusal.detail[:255]
        payment.clearing = None  # never left the hub
        pgsql.insert(payment)
        _emit(payment, "payment.failed")
        return payment, None
    payment.ledger_transaction = posting.transfer_locked(
        accounts=locked,
        debtor_id=debtor.pk,
        creditor_id=clearing.pk,
        amount=amount,
        currency=currency,
        reference=payment.end_to_end_id,
        description=f"SCT Inst {uetr} to {peer.bic}",
    )
    payment.captured_amount = amount
    pgsql.insert(payment)  # the rows save() and create() write, without the ORM's compiler
    message = pgsql.insert(
        Message(
            direction=Message.Direction.OUTBOUND,
            peer=peer,
            kind=builders.PACS008,
            msg_id=msg_id,
            uetr=uetr,
            status=Message.Status.PENDING,
            body=body,
            payment=payment,
        )
    )
    payment._clearing_message = message  # type: ignore[attr-defined]  # for api_deliver
    # Due a moment later: the caller tries at once (api_send); the sweep takes over if not.
    row = outbox.schedule(
        key=f"clearing.send:{message.pk}",
        job=SEND_JOB,
        args=[message.pk],
        queue="default",
        due_at=timezone.now() + timedelta(seconds=settings.CLEARING_RESEND_SECONDS),
        new_key=True,  # the message was created just above
    )
    return payment, row.pk


def api_send(**kwargs: Any) -> Payment:
    """The merchant API's door (payments/external.py): debit and queue, in the caller's
    transaction (the Idempotency-Key's record commits with it); api_deliver posts it."""
    payment, outbox_id = transfer_send(**kwargs)
    payment._clearing_outbox_id = outbox_id  # type: ignore[attr-defined]  # for api_deliver
    return payment


def api_deliver(payment: Payment) -> Payment:
    """Deliver once at once, from this process, after the transaction that queued the
    transfer has committed: a pacs.008 never leaves before its debit is durable (the peer
    could credit a transfer this hub then rolled back), and the peer's clearing account
    is not kept locked during the round trip. Whatever fails here the outbox does again."""
    if payment.status != Payment.Status.PENDING or payment.direction != Payment.Direction.OUTGOING:
        return payment
    message = getattr(payment, "_clearing_message", None)  # the one transfer_send wrote
    if message is None:
        message = (
            Message.objects.select_related("peer")
            .filter(
                direction=Message.Direction.OUTBOUND, kind=builders.PACS008, payment_id=payment.pk
            )
            .first()
        )
    row_id = getattr(payment, "_clearing_outbox_id", None)
    if row_id is None and message is not None:  # not a payment api_send just returned
        row_id = (
            OutboxJob.objects.filter(key=f"clearing.send:{message.pk}", done_at__isnull=True)
            .values_list("pk", flat=True)
            .first()
        )
    # One statement claims the row instead of the outbox's run (read, start, heartbeat
    # thread, done): it is due again only once this post has had its time, so the sweep
    # does not send it beside us (status_apply marks it done with the answer); and it counts
    # the message's attempt, which deliver() would otherwise count with a statement of its own.
    resend = settings.CLEARING_HTTP_TIMEOUT_SECONDS + settings.CLEARING_RESEND_SECONDS
    claimed = (
        row_id is not None
        and message is not None
        and bool(
            pgsql.execute(
                f"WITH claim AS (UPDATE {OutboxJob._meta.db_table} "  # noqa: S608 - identifiers from model metadata; values are parameters
                "SET attempts = attempts + 1, due_at = %s "
                "WHERE id = %s AND done_at IS NULL RETURNING id) "
                f"UPDATE {Message._meta.db_table} SET attempts = attempts + 1 "
                "WHERE id = %s AND EXISTS (SELECT 1 FROM claim) RETURNING id",
                [timezone.now() + timedelta(seconds=resend), row_id, message.pk],
            )
        )
    )
    if claimed and message is not None:
        try:
            deliver(message, counted=True)
        except Exception as error:  # noqa: BLE001 - recorded on the message; the sweep resends
            logger.warning("clearing: first delivery of %s failed: %s", payment.uetr, error)
    # What status_apply changes (the accounts, already loaded, stay as they are).
    pgsql.refresh(payment, SETTLED_FIELDS)
    return payment


def transfer_deliver(message_id: int) -> str:
    """The outbox job: post the pacs.008 (freshly signed) and apply the peer's answer.
    Raises while there is no usable answer, so that the outbox tries again later."""
    return deliver(Message.objects.select_related("peer").get(pk=message_id))


def deliver(message: Message, *, counted: bool = False) -> str:
    """Post one stored pacs.008 and apply the answer (transfer_deliver, and the bounded
    sender of a batch's transfers, clearing/batched.py). Raises when there is no answer.
    `counted`: the caller has counted this attempt on the message already (api_deliver)."""
    if message.status != Message.Status.PENDING:
        return f"settled already ({message.status})"
    if not counted:
        pgsql.execute(
            f"UPDATE {Message._meta.db_table} SET attempts = attempts + 1 WHERE id = %s",  # noqa: S608 - identifiers from model metadata; values are parameters
            [message.pk],
        )
    try:
        # The pacs.008, or a pacs.028 about it once it has waited long (status_requests.py).
        answer = status_requests.post_transfer(message)
        if answer.status != 200:
            raise transport.TransportError(
                f"{message.peer.bic} answered {answer.status}: {answer.body[:300]!r}"
            )
        _kind, root, _document = validation.validate(answer.body, expect=builders.PACS002)
    except (transport.TransportError, validation.InvalidDocument) as error:
        Message.objects.filter(pk=message.pk).update(last_error=str(error)[:500])
        raise
    status_apply(peer=message.peer, root=root, body=answer.body)
    return "answered"


def status_received(*, peer: Peer, root: etree._Element, body: bytes) -> None:
    """A pacs.002 the peer sent on its own (not as the answer to our post)."""
    if not status_apply(peer=peer, root=root, body=body):
        raise Refusal(404, "unknown_transfer", "no transfer sent to you has this UETR")


@transaction.atomic
def status_apply(*, peer: Peer, root: etree._Element, body: bytes) -> bool:
    """Settle the pending payment a pacs.002 is about; False when there is none."""
    report = readers.pacs002(root)
    if report.uetr is None or report.transactions != 1:
        raise Refusal(400, "one_transaction", "a status report about one transfer is expected")
    sent = rows.sent_transfer_locked(peer_id=peer.pk, kind=builders.PACS008, uetr=report.uetr)
    if sent is None or sent.payment_id is None:
        return False
    # Kept once: the same answer again (a resend's) meets the unique MsgId and is skipped.
    pgsql.insert_unless_conflict(
        Message(
            direction=Message.Direction.INBOUND,
            peer=peer,
            kind=builders.PACS002,
            msg_id=report.msg_id,
            uetr=report.uetr,
            status=Message.Status.RECEIVED,
            reason_code=report.reason_code,
            body=body,
            answers=sent,
            payment_id=sent.payment_id,
        )
    )
    if report.status not in ("ACSC", "RJCT"):
        return True  # pending at the peer (ACSP, PDNG): ask again later
    if sent.status != Message.Status.PENDING:
        verdict = Message.Status.ACCEPTED if report.status == "ACSC" else Message.Status.REJECTED
        if verdict != sent.status:
            logger.error(
                "clearing: %s answered %s for %s, settled %s before",
                peer.bic,
                report.status,
                report.uetr,
                sent.status,
            )
        return True
    settle(sent=sent, peer=peer, status=report.status, reason_code=report.reason_code)
    return True


def settle(*, sent: Message, peer: Peer, status: str, reason_code: str) -> None:
    """Apply a final verdict (ACSC, or RJCT with its reason) to a pending transfer whose
    Message the caller has locked: the payment completes, or its debit is reversed."""
    assert sent.payment_id is not None  # a transfer's Message names its payment
    payment = rows.payment_locked(sent.payment_id)
    assert payment.clearing is not None
    payment.clearing = {**payment.clearing, "status": status}
    reason = "" if status == "ACSC" else reason_code or "NARR"
    if payment.batch_id is not None:
        # Before the money of a rejection moves: the batch's row, then the accounts, the
        # order batch execution locks them in.
        settlement.settled(
            settlement.Settled(
                payment=payment, status=status, reason_code=reason, peer_bic=peer.bic
            )
        )
    if status == "ACSC":
        payment.status = Payment.Status.COMPLETED
        sent.status = Message.Status.ACCEPTED
        event = "payment.completed"
    else:
        assert payment.ledger_transaction_id is not None
        posting.reverse(
            transaction_id=payment.ledger_transaction_id,
            description=f"SCT Inst {payment.uetr} rejected by {peer.bic}: {reason}",
        )
        payment.status = Payment.Status.FAILED
        payment.captured_amount = 0
        payment.failure_code = reason
        payment.failure_message = f"rejected by {peer.bic} ({reason})"
        payment.clearing["reason_code"] = reason
        sent.status = Message.Status.REJECTED
        sent.reason_code = reason
        event = "payment.failed"
    pgsql.update(payment, SETTLED_FIELDS)
    pgsql.update(sent, ["status", "reason_code", "updated_at"])
    outbox.done(f"clearing.send:{sent.pk}")  # answered: nothing left to resend
    if payment.batch_id is None:  # a batch's rows are told by its own webhook at its end
        _emit(payment, event)


def _emit(payment: Payment, event: str) -> None:
    if payment.merchant is None or not payment.merchant.webhook_url:
        return  # nothing to deliver: spare the payload's queries
    webhooks.emit(
        merchant=payment.merchant,
        event_type=event,
        data=webhooks.payment_data(payment),
        payment=payment,
    )
