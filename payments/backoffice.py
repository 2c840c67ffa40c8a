"""Back-office actions as people ask for them, on a page: one request or decision, then a
message saying what became of it. The dashboard's payment page and the admin share it."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from django.conf import settings
from django.contrib import messages
from django.http import Http404, HttpRequest

from accounts.identity.audit import Actor
from accounts.ledger import money
from accounts.ledger.errors import LedgerError
from payments import actions
from payments.models import BackOfficeAction, Payment, WebhookDelivery


def action_refusal(error: LedgerError) -> str:
    return f"Not done: {error.detail}."


def request_action(request: HttpRequest, payment: Payment, data: dict[str, Any]) -> None:
    """Ask for the action of a valid BackOfficeActionForm and say what became of it (the
    dashboard and the admin share this)."""
    try:
        action = actions.backoffice_action_request(
            kind=data["kind"],
            payment_id=payment.pk if data["kind"] != BackOfficeAction.Kind.WEBHOOK_RETRY else None,
            delivery_id=data.get("delivery"),
            amount=data.get("amount_minor"),
            reason_code=data.get("reason_code", ""),
            reason=data["reason"],
            actor=Actor.from_request(request),
            otp_token=data.get("otp_token", ""),
        )
    except WebhookDelivery.DoesNotExist:
        messages.error(request, "Not done: no such webhook delivery.")
        return
    except LedgerError as error:
        messages.error(request, action_refusal(error))
        return
    if action.status == BackOfficeAction.Status.PENDING:
        messages.warning(
            request,
            f"{action.get_kind_display()} of {money.display(action.amount, action.currency)} "
            f"is above {settings.BACKOFFICE_SECOND_APPROVAL_ABOVE:,} and waits for a second "
            "approver.",
        )
    else:
        messages.success(request, f"{action.get_kind_display()}: {action.outcome}.")


def decide_action(request: HttpRequest, action_id: UUID, data: dict[str, Any]) -> None:
    actor = Actor.from_request(request)
    try:
        if data["decision"] == "approve":
            action = actions.backoffice_action_approve(
                action_id=action_id, actor=actor, otp_token=data.get("otp_token", "")
            )
        else:
            action = actions.backoffice_action_reject(
                action_id=action_id,
                actor=actor,
                reason=data.get("reason", ""),
                otp_token=data.get("otp_token", ""),
            )
    except BackOfficeAction.DoesNotExist:
        raise Http404("no such action") from None
    except LedgerError as error:
        messages.error(request, action_refusal(error))
        return
    if action.status == BackOfficeAction.Status.DONE:
        messages.success(request, f"Approved and done: {action.outcome}.")
    elif action.status == BackOfficeAction.Status.FAILED:
        messages.error(request, f"Approved, but it could not be done: {action.outcome}.")
    else:
        messages.success(request, "Rejected.")
