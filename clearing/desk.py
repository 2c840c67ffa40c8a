"""The back office's answers to other banks, as back-office actions through the one gate.

A return (pacs.004) and a recall's answer (accept: a pacs.004 with FOCR; refuse: a camt.029)
are asked for and decided like a refund (payments/actions.py): role by grant, a fresh
authenticator code, a Decision row, audited, and above BACKOFFICE_SECOND_APPROVAL_ABOVE a
second person's approval. payments sits below clearing, so clearing registers these two
callables there (payments/external.py `Desk`, in apps.py); the action calls them.
"""

from __future__ import annotations

from accounts.identity.audit import Actor
from accounts.ledger import money
from accounts.ledger.errors import InvalidState
from clearing import recalls, returns, services
from payments.models import BackOfficeAction, Payment

Kind = BackOfficeAction.Kind


class ClearingRefused(InvalidState):
    """A return or a recall's answer that the transfer's state or the reason refuses."""

    code = "clearing_refused"


def check(kind: str, payment: Payment, reason_code: str) -> None:
    """Refuse at once what cannot be done (checked again, under the payment's lock, when
    it is carried out)."""
    if payment.direction != Payment.Direction.INCOMING or not payment.clearing:
        raise ClearingRefused("only a transfer received from another bank is answered so")
    if payment.status != Payment.Status.COMPLETED:
        raise ClearingRefused(f"the transfer is {payment.status}: there is nothing to send back")
    if kind == Kind.CLEARING_RETURN:
        if reason_code not in returns.RETURN_REASONS:
            raise ClearingRefused(
                f"a return's reason is one of {', '.join(sorted(returns.RETURN_REASONS))}"
            )
        return
    if (payment.recall or {}).get("status") != "requested":
        raise ClearingRefused("this transfer has no recall to answer")
    if kind == Kind.RECALL_REFUSE and reason_code not in recalls.REFUSAL_REASONS:
        raise ClearingRefused(
            f"a refusal's reason is one of {', '.join(sorted(recalls.REFUSAL_REASONS))}"
        )


def carry_out(action: BackOfficeAction, actor: Actor) -> str:
    """Do what the action says, in the caller's transaction; what was done, in words."""
    assert action.payment_id is not None
    try:
        if action.kind == Kind.CLEARING_RETURN:
            payment = returns.clearing_return_send(
                payment_id=action.payment_id,
                reason=action.reason_code,
                actor=actor,
                backoffice_action=str(action.pk),
            )
        else:
            payment = recalls.clearing_recall_answer(
                payment_id=action.payment_id,
                accept=action.kind == Kind.RECALL_ACCEPT,
                reason=action.reason_code,
                actor=actor,
                backoffice_action=str(action.pk),
            )
    except services.ClearingError as error:
        raise ClearingRefused(error.detail) from error
    peer = (payment.clearing or {}).get("peer_bic", "the other bank")
    amount = money.display(payment.amount, payment.currency)
    if action.kind == Kind.RECALL_REFUSE:
        return f"recall refused ({action.reason_code}): camt.029 queued for {peer}"
    code = action.reason_code or "FOCR"
    return f"{amount} returned to {peer} ({code}): pacs.004 queued"
