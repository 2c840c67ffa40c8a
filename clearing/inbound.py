"""Documents other banks send this hub, after the inbox (inbox.py) verified the signature
and the schema: each is processed once, and a resend gets the answer stored the first time.

A pacs.008 credits a local account from the sender's clearing account and is answered with a
pacs.002: ACSC, or RJCT with its ISO reason (AC01 unknown account, AC04 closed, AC06 frozen,
AM03 currency, AM02 amount, AB05 seen past the SCT Inst time-out).
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from lxml import etree

from accounts.ledger import money, posting
from accounts.ledger.errors import LedgerError
from accounts.models import Account
from clearing import rows, services
from clearing.iso import builders, readers, validation
from clearing.iso.status_request import PACS028
from clearing.models import Message, Peer
from common.db import pgsql
from payments import webhooks
from payments.models import Payment

logger = logging.getLogger(__name__)

SCHEME = "SCT Inst"


class Refusal(Exception):
    """A document that is valid XML of a supported kind but cannot be taken: 4xx, nothing
    changed."""

    def __init__(self, status: int, code: str, detail: str):
        super().__init__(detail)
        self.status = status
        self.code = code
        self.detail = detail


def _lock_key(text: str) -> None:
    pgsql.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", [text])


def receive(
    *, peer: Peer, kind: str, root: etree._Element, body: bytes
) -> tuple[int, bytes | None]:
    """(HTTP status, answering document or None) for a verified, schema-valid document."""
    if kind == builders.PACS008:
        return 200, receive_transfer(peer=peer, root=root, body=body)
    if kind == builders.PACS002:
        from clearing import outbound

        outbound.status_received(peer=peer, root=root, body=body)
        return 202, None
    if kind == builders.PACS004:
        from clearing import returns

        returns.return_received(peer=peer, root=root, body=body)
        return 202, None
    if kind in (builders.CAMT056, builders.CAMT029):
        from clearing import recalls

        if kind == builders.CAMT056:
            return 200, recalls.recall_received(peer=peer, root=root, body=body)
        recalls.refusal_received(peer=peer, root=root, body=body)
        return 202, None
    if kind == PACS028:
        from clearing import status_requests

        return 200, status_requests.status_request_received(peer=peer, root=root, body=body)
    raise Refusal(422, "unsupported_message", f"{kind} is not taken by this hub yet")


def _reject_reason(
    *, transfer: readers.IncomingTransfer, account: Account | None, amount: int | None
) -> str:
    """The ISO reason this transfer is refused for, or "" (read under the account's lock)."""
    if amount is None:
        return "AM02"
    if account is None:
        return "AC01"
    if account.status == Account.Status.CLOSED:
        return "AC04"
    if account.status == Account.Status.FROZEN:
        return "AC06"
    if account.currency != transfer.currency:
        return "AM03"
    return ""


def receive_transfer(*, peer: Peer, root: etree._Element, body: bytes) -> bytes:
    transfer = readers.pacs008(root)
    if transfer.transactions != 1:
        raise Refusal(400, "one_transaction", "an SCT Inst pacs.008 carries one transaction")
    if transfer.uetr is None:
        raise Refusal(400, "uetr_missing", "the transaction carries no UETR")
    if peer.bic not in (transfer.instructing_agent, transfer.debtor_agent):
        raise Refusal(
            403,
            "agent_not_signer",
            "the document's instructing agent is not the bank that signed it",
        )
    hub = services.hub_bic()
    if transfer.instructed_agent and transfer.instructed_agent != hub:
        raise Refusal(400, "not_for_this_hub", f"the document is for {transfer.instructed_agent}")
    with transaction.atomic():
        # One transfer at a time per UETR: a resend racing its original waits, then finds it.
        _lock_key(f"clearing.transfer:{peer.pk}:{transfer.uetr}")
        # One query for all: this UETR seen before (and its answer), or its MsgId used.
        before = rows.transfers_received(
            peer_id=peer.pk, kind=builders.PACS008, uetr=transfer.uetr, msg_id=transfer.msg_id
        )
        seen = next((row for row in before if row[1] == transfer.uetr), None)
        if seen is not None and seen[3] is not None:
            return seen[3]  # the answer sent the first time
        if any(msg_id == transfer.msg_id for _pk, _uetr, msg_id, _answer in before):
            raise Refusal(409, "msg_id_reused", "this MsgId was used for another transfer")
        return _credit(peer=peer, transfer=transfer, body=body)


def _credit(*, peer: Peer, transfer: readers.IncomingTransfer, body: bytes) -> bytes:
    now = timezone.now()
    accepted_at = transfer.accepted_at or transfer.created_at
    timeout = timedelta(seconds=settings.CLEARING_SETTLEMENT_TIMEOUT_SECONDS)
    amount: int | None
    try:
        amount = money.to_minor(transfer.amount, transfer.currency)
    except LedgerError:
        amount = None
    iban = services.normalise_iban(transfer.creditor_iban)
    account = rows.customer_account([iban])
    payment: Payment | None = None
    accepted = (b"", "")
    if now > accepted_at + timeout:
        reason = "AB05"  # never credit after the sender may have given up
    else:
        reason = _reject_reason(
            transfer=transfer, account=account, amount=None if amount is None else amount
        )
    if not reason and account is not None and amount is not None:
        clearing = services.clearing_account(peer=peer, currency=transfer.currency)
        # The likely answer, written and checked before the clearing account (locked by
        # every transfer from this peer) is locked: the locked stretch stays short.
        accepted = _answer(peer=peer, transfer=transfer, reason="")
        locked = posting.lock_accounts([clearing.pk, account.pk])
        reason = _reject_reason(transfer=transfer, account=locked[account.pk], amount=amount)
        if not reason:
            try:
                txn = posting.transfer_locked(
                    accounts=locked,
                    debtor_id=clearing.pk,
                    creditor_id=account.pk,
                    amount=amount,
                    currency=transfer.currency,
                    reference=transfer.end_to_end_id,
                    description=f"{SCHEME} {transfer.uetr} from {peer.bic}: {transfer.debtor_name}",
                )
            except LedgerError as error:
                reason = error.reason_code if error.reason_code != "NARR" else "AM04"
            else:
                payment = _record_payment(
                    peer=peer,
                    transfer=transfer,
                    account=account,
                    clearing=clearing,
                    amount=amount,
                    txn_id=txn.pk,
                    message_id=transfer.msg_id,
                )
    answer, answer_msg_id = (
        accepted if not reason else _answer(peer=peer, transfer=transfer, reason=reason)
    )
    # Stored once its verdict is known, in the transaction that credits: its unique
    # constraint (one pacs.008 per UETR and peer) stands behind the lock on the UETR.
    message = Message(
        direction=Message.Direction.INBOUND,
        peer=peer,
        kind=builders.PACS008,
        msg_id=transfer.msg_id,
        uetr=transfer.uetr,
        status=Message.Status.REJECTED if reason else Message.Status.ACCEPTED,
        reason_code=reason,
        body=body,
        payment=payment,
    )
    pgsql.insert(message)
    pgsql.insert(
        Message(
            direction=Message.Direction.OUTBOUND,
            peer=peer,
            kind=builders.PACS002,
            msg_id=answer_msg_id,
            uetr=transfer.uetr,
            status=message.status,
            reason_code=reason,
            body=answer,
            answers=message,
            payment=payment,
        )
    )
    logger.info(
        "clearing transfer received",
        extra={"uetr": str(transfer.uetr), "peer": peer.bic, "status": reason or "ACSC"},
    )
    return answer


def _answer(*, peer: Peer, transfer: readers.IncomingTransfer, reason: str) -> tuple[bytes, str]:
    """The pacs.002 of this verdict (ACSC when `reason` is empty), checked against its
    schema, and its MsgId."""
    msg_id = builders.new_msg_id()
    answer = builders.pacs002(
        builders.Status(
            msg_id=msg_id,
            created_at=timezone.now(),
            sender=services.hub_bic(),
            receiver=peer.bic,
            original_msg_id=transfer.msg_id,
            original_kind=builders.PACS008,
            uetr=transfer.uetr,  # type: ignore[arg-type]
            end_to_end_id=transfer.end_to_end_id,
            instruction_id=transfer.instruction_id,
            accepted=not reason,
            reason_code=reason,
        )
    )
    validation.validate(answer, expect=builders.PACS002)
    return answer, msg_id


def clearing_info(
    *, peer_bic: str, message_id: str, uetr: Any, status: str, reason_code: str | None
) -> dict:
    return {
        "scheme": SCHEME,
        "peer_bic": peer_bic,
        "message_id": message_id,
        "uetr": str(uetr),
        "status": status,
        "reason_code": reason_code,
    }


def _record_payment(
    *,
    peer: Peer,
    transfer: readers.IncomingTransfer,
    account: Account,
    clearing: Account,
    amount: int,
    txn_id: int,
    message_id: str,
) -> Payment:
    """The record of a received transfer: the merchant's view of it, and the back office's
    (an account without a merchant gets one too, with no merchant: it can be returned)."""
    merchant = account.merchant  # loaded with the account; None: no merchant
    payment = Payment(
        merchant=merchant,
        debtor_account=clearing,
        creditor_account=account,
        amount=amount,
        currency=transfer.currency,
        captured_amount=amount,
        status=Payment.Status.COMPLETED,
        reference=transfer.remittance[:140],
        end_to_end_id=transfer.end_to_end_id[:35],
        ledger_transaction_id=txn_id,
        direction=Payment.Direction.INCOMING,
        debtor_name=transfer.debtor_name[:140],
        debtor_iban=transfer.debtor_iban[:34],
        debtor_agent=transfer.debtor_agent or peer.bic,
        creditor_name=transfer.creditor_name[:140],
        creditor_iban=account.number,
        creditor_agent=services.hub_bic(),
        uetr=transfer.uetr,
        clearing=clearing_info(
            peer_bic=peer.bic,
            message_id=message_id,
            uetr=transfer.uetr,
            status="ACSC",
            reason_code=None,
        ),
    )
    pgsql.insert(payment)  # the row save() writes, without the ORM's compiler
    if merchant is None or not merchant.webhook_url:
        return payment  # nothing to deliver: spare the payload's queries
    webhooks.emit(
        merchant=merchant,
        event_type="payment.received",
        data=webhooks.payment_data(payment),
        payment=payment,
    )
    return payment
