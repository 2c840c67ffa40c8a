"""Back-office actions: a clerk's refund, void, reversal or webhook retry, through the gate.

Every one is a decision signed with a fresh authenticator code (accounts/identity/gate.py).
A clerk (the admin role) asks; the action is carried out at once when the exposure it
adds stays within BACKOFFICE_SECOND_APPROVAL_ABOVE, else it waits for a second person, an
approver who is not the asker (compared as persons; a CHECK on the decisions says so too).
Exposure, not the action's size: all the refunds of a payment together, and all that the
back office sends back to one account in a day, so no amount can be split under the line.
"""

from __future__ import annotations

from datetime import datetime, time, timedelta
from decimal import Decimal
from typing import Any, cast
from uuid import UUID

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Q, Sum
from django.utils import timezone

from accounts.identity import audit, gate, roles
from accounts.identity.actions import AuditAction
from accounts.identity.audit import Actor
from accounts.identity.models import User
from accounts.ledger import money
from accounts.ledger.errors import InvalidAmount, InvalidState, LedgerError
from payments import external, services
from payments.models import BackOfficeAction, Payment, WebhookDelivery

KIND = "backoffice"
ASKING_ROLE = (roles.OPERATOR, roles.ADMIN)  # the payments staff and the back office
DECIDING_ROLE = roles.APPROVER
GIVES_BACK = (
    BackOfficeAction.Kind.REFUND,
    BackOfficeAction.Kind.REVERSE,
    BackOfficeAction.Kind.CLEARING_RETURN,
    BackOfficeAction.Kind.RECALL_ACCEPT,
)
# Answers to another bank about a transfer it sent (carried out by clearing: external.desk).
CLEARING = (
    BackOfficeAction.Kind.CLEARING_RETURN,
    BackOfficeAction.Kind.RECALL_ACCEPT,
    BackOfficeAction.Kind.RECALL_REFUSE,
)
# One writer of a debtor account's day of back-office exposure at a time.
EXPOSURE_LOCK = 0x6261636B  # "back"


class ReasonRequired(LedgerError):
    """A back-office action needs a reason."""

    code = "reason_required"


FourEyes = gate.NotAllowed  # whoever asked for an action may not decide on it
NotAllowed = gate.NotAllowed


def limit() -> Decimal:
    return settings.BACKOFFICE_SECOND_APPROVAL_ABOVE


def needs_second_approval(amount: int | None, currency: str) -> bool:
    """Above BACKOFFICE_SECOND_APPROVAL_ABOVE (major units, whatever the currency)."""
    if amount is None or not currency:
        return False
    return money.to_decimal(amount, currency) > limit()


def may_approve(user: User | None) -> bool:
    """Holds the approver role by a grant (a superuser flag alone decides nothing)."""
    return user is not None and roles.has_role(user, DECIDING_ROLE)


def exposure(payment: Payment, amount: int, *, now: datetime | None = None) -> dict[str, int]:
    """What the action would bring the payment's and its debtor account's exposure to.

    `payment`: everything given back of it (refunds done, by any channel) and every pending
    back-office action on it, with this one. `account_day`: all the back office gives back to
    the payment's debtor account today (done or pending), with this one.
    """
    now = now or timezone.now()
    pending = Q(status=BackOfficeAction.Status.PENDING, kind__in=GIVES_BACK)
    on_payment = (
        BackOfficeAction.objects.filter(pending, payment=payment).aggregate(total=Sum("amount"))[
            "total"
        ]
        or 0
    )
    day_start = datetime.combine(timezone.localdate(now), time.min, timezone.get_current_timezone())
    on_account = (
        BackOfficeAction.objects.filter(
            kind__in=GIVES_BACK,
            status__in=[BackOfficeAction.Status.PENDING, BackOfficeAction.Status.DONE],
            requested_at__gte=day_start,
            requested_at__lt=day_start + timedelta(days=1),
            payment__debtor_account_id=payment.debtor_account_id,
            currency=payment.currency,
        ).aggregate(total=Sum("amount"))["total"]
        or 0
    )
    return {
        "payment": payment.refunded_amount + on_payment + amount,
        "account_day": on_account + amount,
    }


def backoffice_action_request(
    *,
    kind: str,
    reason: str,
    actor: Actor,
    otp_token: str,
    payment_id: UUID | None = None,
    delivery_id: UUID | None = None,
    amount: int | None = None,
    reason_code: str = "",
) -> BackOfficeAction:
    """Ask for a back-office action, signed. Carried out at once when the exposure it adds
    stays within the limit; otherwise it waits, `pending`, for a second person. A refusal
    raises and records nothing but the spent code.

    `amount` (minor units) is for a refund only: all that is left when None. `reason_code`
    is the ISO reason told the other bank, for a return or a recall's refusal.
    """
    reason = (reason or "").strip()
    if not reason:
        raise ReasonRequired("say why: a back-office action needs a reason")
    if actor.user is None:
        raise NotAllowed("a back-office action is made by a member of staff")
    if kind not in BackOfficeAction.Kind.values:
        raise InvalidState(f"no such back-office action: {kind!r}")
    subject: Any
    if kind == BackOfficeAction.Kind.WEBHOOK_RETRY:
        subject = WebhookDelivery.objects.get(pk=cast(UUID, delivery_id))
    else:
        subject = Payment.objects.get(pk=cast(UUID, payment_id))
    signed = gate.pass_gate(
        user=actor.user,
        role=ASKING_ROLE,
        initiators=set(),
        otp_token=otp_token,
        actor=actor,
        subject=subject,
        kind=f"{KIND}.{kind}",
    )
    with transaction.atomic(durable=True):
        return _request(kind, reason, actor, signed, payment_id, delivery_id, amount, reason_code)


def _request(
    kind, reason, actor, signed, payment_id, delivery_id, amount, reason_code=""
) -> BackOfficeAction:
    payment: Payment | None = None
    delivery: WebhookDelivery | None = None
    currency = ""
    if kind == BackOfficeAction.Kind.WEBHOOK_RETRY:
        delivery = WebhookDelivery.objects.select_related("payment").get(pk=cast(UUID, delivery_id))
        if delivery.status != WebhookDelivery.Status.FAILED:
            raise InvalidState(f"only a failed delivery is retried; this one is {delivery.status}")
        payment = delivery.payment
        amount = None
    else:
        payment = services.lock_payment(cast(UUID, payment_id))
        currency = payment.currency
        if kind in CLEARING:
            amount = payment.amount
            reason_code = (reason_code or "").strip().upper()
            _check_clearing(kind, payment, reason_code)
        elif kind == BackOfficeAction.Kind.VOID:
            amount = payment.amount
        elif kind == BackOfficeAction.Kind.REVERSE or amount is None:
            amount = payment.refundable_amount
        if isinstance(amount, bool) or not isinstance(amount, int) or amount <= 0:
            raise InvalidAmount("the amount must be more than zero")
        _check_allowed(kind, payment, amount)
    exposed = {"payment": amount or 0, "account_day": amount or 0}
    if payment is not None and kind in GIVES_BACK and amount is not None:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT pg_advisory_xact_lock(%s, hashtext(%s))",
                [EXPOSURE_LOCK, str(payment.debtor_account_id)],
            )
        exposed = exposure(payment, amount)
    action = BackOfficeAction.objects.create(
        kind=kind,
        payment=payment,
        webhook_delivery=delivery,
        amount=amount,
        currency=currency,
        reason=reason[:500],
        reason_code=reason_code if kind in CLEARING else "",
        requested_by=actor.user,
    )
    gate.record(
        signed=signed,
        user=actor.user,
        role=ASKING_ROLE,
        kind=KIND,
        verdict="initiate",
        subject=action,
        initiator=signed.person.pk,
        initiators=set(),
        actor=actor,
        amount=amount,
        currency=currency,
    )
    audit.record(
        actor=actor,
        action=AuditAction.BACKOFFICE_ACTION_REQUEST,
        target=action,
        kind=kind,
        payment=str(payment.pk) if payment else None,
        webhook_delivery=str(delivery.pk) if delivery else None,
        amount=money.to_major(amount, currency) if amount is not None else None,
        currency=currency,
        reason=reason,
        reason_code=reason_code if kind in CLEARING else None,
        exposure={k: money.to_major(v, currency) for k, v in exposed.items()} if currency else None,
        otp_time_step=signed.otp_time_step,
    )
    if not any(needs_second_approval(value, currency) for value in exposed.values()):
        _carry_out(action, actor)
    return action


def _check_clearing(kind: str, payment: Payment, reason_code: str) -> None:
    """A return or a recall's answer: one at a time per transfer, and what clearing allows."""
    if BackOfficeAction.objects.filter(
        payment=payment, kind__in=CLEARING, status=BackOfficeAction.Status.PENDING
    ).exists():
        raise InvalidState("an answer about this transfer already waits for a second approver")
    external.desk().check(kind, payment, reason_code)


def _check_allowed(kind: str, payment: Payment, amount: int) -> None:
    """Refuse at once what the payment's state does not allow (checked again when done)."""
    if kind in GIVES_BACK and payment.direction == Payment.Direction.INCOMING:
        if kind not in CLEARING:
            raise InvalidState(
                "a transfer received from another bank is returned to that bank, not refunded"
            )
        return
    if kind == BackOfficeAction.Kind.VOID and payment.status != Payment.Status.AUTHORIZED:
        raise InvalidState(f"cannot void a {payment.status} payment")
    if kind in (BackOfficeAction.Kind.REFUND, BackOfficeAction.Kind.REVERSE):
        if kind == BackOfficeAction.Kind.REVERSE and payment.batch_id is None:
            raise InvalidState("only a batch payment is reversed; refund a real-time payment")
        if payment.status not in (Payment.Status.COMPLETED, Payment.Status.PARTIALLY_REFUNDED):
            raise InvalidState(f"cannot refund a {payment.status} payment")
        if amount > payment.refundable_amount:
            raise services.RefundTooLarge(
                f"{money.display(amount, payment.currency)} is more than the "
                f"{money.display(payment.refundable_amount, payment.currency)} left to refund"
            )


def _decide(
    action_id: UUID, actor: Actor, otp_token: str, verdict: str
) -> tuple[gate.Signed, set[int]]:
    if actor.user is None:
        raise NotAllowed("a back-office action is decided by a member of staff")
    action = BackOfficeAction.objects.select_related("requested_by").get(pk=action_id)
    asker = gate.person_of(action.requested_by)
    initiators = {asker.pk} if asker is not None else set()
    signed = gate.pass_gate(
        user=actor.user,
        role=DECIDING_ROLE,
        initiators=initiators,
        otp_token=otp_token,
        actor=actor,
        subject=action,
        kind=f"{KIND}.{verdict}",
    )
    return signed, initiators


def _pending_action(
    action_id: UUID, actor: Actor, signed: gate.Signed, initiators: set[int], verdict: str
) -> BackOfficeAction:
    action = (
        BackOfficeAction.objects.select_for_update(of=("self",))
        .select_related("requested_by")
        .get(pk=action_id)
    )
    if action.status != BackOfficeAction.Status.PENDING:
        raise InvalidState(f"the action is {action.get_status_display().lower()} already")
    assert actor.user is not None
    gate.record(
        signed=signed,
        user=actor.user,
        role=DECIDING_ROLE,
        kind=KIND,
        verdict=verdict,
        subject=action,
        initiator=min(initiators) if initiators else None,
        initiators=initiators,
        actor=actor,
        amount=action.amount,
        currency=action.currency,
    )
    return action


def backoffice_action_approve(*, action_id: UUID, actor: Actor, otp_token: str) -> BackOfficeAction:
    """A second person approves a pending action, signed, which is then carried out; if the
    payment's state no longer allows it, the action ends `failed` with the reason."""
    signed, initiators = _decide(action_id, actor, otp_token, "approve")
    with transaction.atomic(durable=True):
        action = _pending_action(action_id, actor, signed, initiators, "approve")
        action.decided_by = actor.user
        action.decided_at = timezone.now()
        audit.record(
            actor=actor,
            action=AuditAction.BACKOFFICE_ACTION_APPROVE,
            target=action,
            requested_by=action.requested_by.get_username(),
            otp_time_step=signed.otp_time_step,
        )
        try:
            with transaction.atomic():
                _carry_out(action, actor)
        except LedgerError as error:
            action.status = BackOfficeAction.Status.FAILED
            action.outcome = error.detail[:500]
            action.save(update_fields=["status", "outcome", "decided_by", "decided_at"])
            audit.record(
                actor=actor,
                action=AuditAction.BACKOFFICE_ACTION_FAIL,
                target=action,
                error=error.detail,
            )
        return action


def backoffice_action_reject(
    *, action_id: UUID, actor: Actor, reason: str, otp_token: str
) -> BackOfficeAction:
    reason = (reason or "").strip()
    if not reason:
        raise ReasonRequired("say why the action is rejected")
    signed, initiators = _decide(action_id, actor, otp_token, "reject")
    with transaction.atomic(durable=True):
        action = _pending_action(action_id, actor, signed, initiators, "reject")
        action.status = BackOfficeAction.Status.REJECTED
        action.decided_by = actor.user
        action.decided_at = timezone.now()
        action.decision_reason = reason[:500]
        action.save(update_fields=["status", "decided_by", "decided_at", "decision_reason"])
        audit.record(
            actor=actor,
            action=AuditAction.BACKOFFICE_ACTION_REJECT,
            target=action,
            reason=reason,
            otp_time_step=signed.otp_time_step,
        )
        return action


def _carry_out(action: BackOfficeAction, actor: Actor) -> None:
    """Do what the action says, through the payment services, and record it."""
    detail: dict[str, Any] = {"backoffice_action": str(action.pk), "reason": action.reason}
    if action.kind in CLEARING:
        action.outcome = external.desk().carry_out(action, actor)[:500]
    elif action.kind == BackOfficeAction.Kind.WEBHOOK_RETRY:
        assert action.webhook_delivery_id is not None
        delivery = services.webhook_delivery_retry(delivery_id=action.webhook_delivery_id)
        audit.record(
            actor=actor, action=AuditAction.WEBHOOK_DELIVERY_RETRY, target=delivery, **detail
        )
        action.outcome = "sent again"
    else:
        assert action.payment_id is not None and action.amount is not None
        amount = money.to_major(action.amount, action.currency)
        if action.kind == BackOfficeAction.Kind.VOID:
            payment = services.payment_void(payment_id=action.payment_id)
            action.outcome = "authorization voided, hold released"
            audit.record(actor=actor, action=AuditAction.PAYMENT_VOID, target=payment, **detail)
        else:
            if action.kind == BackOfficeAction.Kind.REVERSE:
                refund = services.payment_reverse(
                    payment_id=action.payment_id, reason=action.reason
                )
                verb = AuditAction.PAYMENT_REVERSE
            else:
                refund = services.payment_refund(
                    payment_id=action.payment_id, amount=action.amount, reason=action.reason
                )
                verb = AuditAction.PAYMENT_REFUND
            payment = refund.payment
            action.outcome = (
                f"{money.display(action.amount, action.currency)} back to the debtor "
                f"(LT{refund.ledger_transaction_id})"
            )
            audit.record(
                actor=actor,
                action=verb,
                target=payment,
                amount=amount,
                currency=action.currency,
                refund=str(refund.pk),
                ledger_transaction=refund.ledger_transaction_id,
                **detail,
            )
    action.status = BackOfficeAction.Status.DONE
    action.save(update_fields=["status", "outcome", "decided_by", "decided_at"])
