"""A payment's story for the back office: its back-office actions (and those waiting for a
second approver), and its timeline of status changes, ledger transactions, webhook
attempts and actions, oldest first."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from accounts.ledger import money
from accounts.models import Hold, LedgerTransaction
from payments.models import BackOfficeAction, Payment, WebhookDelivery
from payments.selectors import payment_ledger_transactions, payment_webhook_deliveries


def pending_backoffice_actions(*, limit: int = 200) -> list[BackOfficeAction]:
    """The actions waiting for a second approver, oldest first (a partial index)."""
    return list(
        BackOfficeAction.objects.filter(status=BackOfficeAction.Status.PENDING)
        .select_related("payment", "webhook_delivery", "requested_by")
        .order_by("requested_at")[:limit]
    )


def payment_backoffice_actions(*, payment: Payment) -> list[BackOfficeAction]:
    return list(
        BackOfficeAction.objects.filter(payment=payment)
        .select_related("requested_by", "decided_by")
        .order_by("requested_at")
    )


@dataclass(frozen=True)
class StoryEvent:
    """One line of a payment's timeline."""

    at: datetime
    kind: str  # status, ledger, webhook, action
    title: str
    detail: str = ""
    actor: str = ""
    transaction_id: int | None = None
    status: str = ""


def payment_timeline(*, payment: Payment) -> list[StoryEvent]:
    """What happened to a payment, oldest first: its status changes with who made them,
    each ledger transaction, each webhook attempt with its answer, each back-office action."""
    from accounts.models import AuditEvent

    audit_by_action: dict[str, list[AuditEvent]] = {}
    for event in AuditEvent.objects.filter(
        target_type=Payment._meta.label, target_id=str(payment.pk)
    ).order_by("at", "id"):
        audit_by_action.setdefault(event.action, []).append(event)

    def actor_of(action: str, default: str, **match: str) -> str:
        for event in audit_by_action.get(action, []):
            if all(str(event.detail.get(key)) == value for key, value in match.items()):
                return event.actor_label
        return default

    made_by = (
        f"API key “{payment.api_key.name}”"
        if payment.api_key_id and payment.api_key
        else (f"batch {payment.batch_id}, row {payment.batch_row}" if payment.batch_id else "")
    )
    events: list[StoryEvent] = []
    amount = money.display(payment.amount, payment.currency)
    hold = payment.hold
    if payment.status == Payment.Status.FAILED:
        events.append(
            StoryEvent(
                payment.created_at,
                "status",
                "Failed",
                f"{payment.failure_code}: {payment.failure_message}",
                made_by,
                status="failed",
            )
        )
    elif payment.status == Payment.Status.CREATED:
        events.append(
            StoryEvent(payment.created_at, "status", "Created", amount, made_by, status="created")
        )
    elif hold is not None:
        events.append(
            StoryEvent(
                payment.created_at,
                "status",
                "Authorized",
                f"{amount} held on {payment.debtor_account.number}, code {payment.authorization_code}",
                made_by,
                status="authorized",
            )
        )
        if hold.status == Hold.Status.RELEASED and hold.closed_at:
            ended = "Voided" if payment.status == Payment.Status.VOIDED else "Expired"
            events.append(
                StoryEvent(
                    hold.closed_at,
                    "status",
                    ended,
                    "the hold is released",
                    actor_of("payment.void", "merchant (API)")
                    if ended == "Voided"
                    else "the expiry job",
                    status=payment.status if ended == "Voided" else "expired",
                )
            )
    else:
        events.append(
            StoryEvent(
                payment.created_at,
                "status",
                "Completed",
                f"{amount} authorized and captured at once",
                made_by,
                status="completed",
            )
        )
    for txn in payment_ledger_transactions(payment=payment):
        legs = ", ".join(
            f"{entry.account.number} {'+' if entry.amount > 0 else ''}"
            f"{money.to_grouped(entry.amount, entry.currency)}"
            for entry in txn.entries.all()
        )
        events.append(
            StoryEvent(
                txn.created_at,
                "ledger",
                f"Ledger LT{txn.pk}: {txn.get_kind_display().lower()}",
                legs,
                transaction_id=txn.pk,
            )
        )
        if hold is not None and txn.pk == payment.ledger_transaction_id:
            events.append(
                StoryEvent(
                    txn.created_at,
                    "status",
                    "Captured",
                    money.display(txn.amount, txn.currency),
                    "merchant (API)",
                    status="completed",
                )
            )
    for refund in payment.refunds.select_related("ledger_transaction").order_by("created_at"):
        reversal = refund.ledger_transaction.kind == LedgerTransaction.Kind.REVERSAL
        events.append(
            StoryEvent(
                refund.created_at,
                "status",
                "Reversed" if reversal else "Refunded",
                f"{money.display(refund.amount, refund.currency)}"
                + (f" — {refund.reason}" if refund.reason else ""),
                actor_of(
                    "payment.reverse" if reversal else "payment.refund",
                    "merchant (API)",
                    refund=str(refund.pk),
                ),
                transaction_id=refund.ledger_transaction_id,
                status="refunded",
            )
        )
    for delivery in payment_webhook_deliveries(payment=payment):
        for attempt in getattr(delivery, "attempt_list", []):
            answer = (
                f"HTTP {attempt.status_code}"
                if attempt.status_code
                else attempt.error or "no answer"
            )
            events.append(
                StoryEvent(
                    attempt.at,
                    "webhook",
                    f"Webhook {delivery.event_type}",
                    f"{answer} in {attempt.duration_ms} ms"
                    + (f": {attempt.response_excerpt[:80]}" if attempt.response_excerpt else ""),
                )
            )
        if delivery.status == WebhookDelivery.Status.FAILED:
            events.append(
                StoryEvent(
                    delivery.created_at,
                    "webhook",
                    f"Webhook {delivery.event_type} gave up",
                    f"after {delivery.attempt_count} attempts",
                )
            )
    for action in payment_backoffice_actions(payment=payment):
        events.append(
            StoryEvent(
                action.requested_at,
                "action",
                f"{action.get_kind_display()} asked",
                action.reason,
                action.requested_by.get_username(),
            )
        )
        if action.decided_at and action.decided_by:
            verdict = (
                "rejected" if action.status == BackOfficeAction.Status.REJECTED else "approved"
            )
            events.append(
                StoryEvent(
                    action.decided_at,
                    "action",
                    f"{action.get_kind_display()} {verdict}",
                    action.decision_reason or action.outcome,
                    action.decided_by.get_username(),
                )
            )
    return sorted(events, key=lambda event: event.at)
