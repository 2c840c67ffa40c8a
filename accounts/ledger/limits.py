"""Instant limits of an account (IPR Art. 5a(6)): a maximum per instant payment and per day,
set by the merchant, changed here only. A lower limit applies at once; a higher one (or none
where there was one) waits for a second person, through the one gate, never the asker.

Enforcement (every outbound payment and batch row refused with AM14) is
`payments/instant_limits.py`; this module owns the limits themselves.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import Enum
from typing import Any, Final, Literal
from uuid import UUID

from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from accounts.identity import audit, gate, roles
from accounts.identity.actions import AuditAction
from accounts.identity.audit import Actor
from accounts.ledger import money
from accounts.ledger.errors import InvalidAmount, InvalidState, LedgerError
from accounts.ledger.models import Account, InstantLimitChange

KIND = "instant_limit"
# Who asks on the dashboard: the payments staff acting for the merchant, and the back office.
ASKING_ROLES = (roles.OPERATOR, roles.APPROVER, roles.ADMIN)
# Who confirms a higher limit: the merchant's four-eyes signers on the dashboard (approvers)
# or the back office (admin); never the person who asked.
CONFIRMING_ROLES = (roles.APPROVER, roles.ADMIN)


class _Unchanged(Enum):
    UNCHANGED = "unchanged"


UNCHANGED: Final = _Unchanged.UNCHANGED
Limit = int | None  # minor units; None: no limit
Wanted = Limit | Literal[_Unchanged.UNCHANGED]


class ReasonRequired(LedgerError):
    """A rejection needs a reason."""

    code = "reason_required"


def is_raise(current: Limit, new: Limit) -> bool:
    """Whether `new` allows more than `current`: a higher amount, or none where one was."""
    if current is None:
        return False
    return new is None or new > current


def _check_value(value: Wanted, name: str) -> None:
    if value is UNCHANGED or value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise InvalidAmount(f"{name}: a limit is an amount above zero, or null for none")


def _shown(value: Limit, currency: str) -> str:
    return "none" if value is None else money.to_major(value, currency)


def _lock_account(account_id: UUID) -> Account:
    return Account.objects.select_for_update(of=("self",)).get(pk=account_id)


def _supersede(account: Account, actor: Actor) -> None:
    for change in InstantLimitChange.objects.select_for_update(of=("self",)).filter(
        account=account, status=InstantLimitChange.Status.PENDING
    ):
        change.status = InstantLimitChange.Status.SUPERSEDED
        change.decided_at = timezone.now()
        change.save(update_fields=["status", "decided_at"])
        audit.record(actor=actor, action=AuditAction.INSTANT_LIMIT_SUPERSEDE, target=change)


def instant_limits_request(
    *,
    account_id: UUID,
    actor: Actor,
    per_payment: Wanted = UNCHANGED,
    per_day: Wanted = UNCHANGED,
    person_id: int | None = None,
) -> InstantLimitChange | None:
    """Ask for new limits: what lowers applies now, what raises waits (the pending change,
    returned; None when nothing waits). `person_id` is the asker's person (the user's, or
    the API key creator's). Supersedes any change still pending on the account."""
    _check_value(per_payment, "instant_limit_per_payment")
    _check_value(per_day, "instant_limit_per_day")
    if per_payment is UNCHANGED and per_day is UNCHANGED:
        raise InvalidState("name instant_limit_per_payment, instant_limit_per_day or both")
    with transaction.atomic():
        account = _lock_account(account_id)
        if account.kind != Account.Kind.CUSTOMER:
            raise InvalidState("only a customer account has instant limits")
        _supersede(account, actor)
        wanted = {"per_payment": per_payment, "per_day": per_day}
        current = {
            "per_payment": account.instant_limit_per_payment,
            "per_day": account.instant_limit_per_day,
        }
        lower: dict[str, Limit] = {}
        higher: dict[str, Limit] = {}
        for name, value in wanted.items():
            if value is UNCHANGED or value == current[name]:
                continue
            (higher if is_raise(current[name], value) else lower)[name] = value
        requester = {
            "requested_by_id": person_id,
            "requested_by_user": actor.user,
            "requested_via": actor.label[:200],
        }
        currency = account.currency
        if lower:
            applied = InstantLimitChange.objects.create(
                account=account,
                status=InstantLimitChange.Status.APPLIED,
                decided_at=timezone.now(),
                **_fields(lower),
                **requester,
            )
            _apply(account, applied, actor, action=AuditAction.INSTANT_LIMIT_APPLY)
        if not higher:
            return None
        pending = InstantLimitChange.objects.create(account=account, **_fields(higher), **requester)
        asked: dict[str, Any] = {name: _shown(value, currency) for name, value in higher.items()}
        audit.record(
            actor=actor,
            action=AuditAction.INSTANT_LIMIT_REQUEST,
            target=pending,
            account=account.number,
            currency=currency,
            requested_by_person=person_id,
            **asked,
        )
        return pending


def _fields(values: dict[str, Limit]) -> dict[str, object]:
    fields: dict[str, object] = {}
    for name, value in values.items():
        fields[f"sets_{name}"] = True
        fields[name] = value
    return fields


def _apply(account: Account, change: InstantLimitChange, actor: Actor, *, action: AuditAction):
    """Write the change's limits on the (locked) account, audited with before and after."""
    before = _limits(account)
    if change.sets_per_payment:
        account.instant_limit_per_payment = change.per_payment
    if change.sets_per_day:
        account.instant_limit_per_day = change.per_day
    account.save(update_fields=["instant_limit_per_payment", "instant_limit_per_day", "updated_at"])
    audit.record(
        actor=actor,
        action=action,
        target=account,
        before=before,
        after=_limits(account),
        change=change.pk,
    )


def _limits(account: Account) -> dict[str, str]:
    return {
        "instant_limit_per_payment": _shown(account.instant_limit_per_payment, account.currency),
        "instant_limit_per_day": _shown(account.instant_limit_per_day, account.currency),
    }


def instant_limits_request_signed(
    *,
    account_id: UUID,
    actor: Actor,
    otp_token: str,
    per_payment: Wanted = UNCHANGED,
    per_day: Wanted = UNCHANGED,
) -> InstantLimitChange | None:
    """The dashboard's request: a member of staff acting for the merchant, signed with a
    fresh code through the gate (the request is theirs, so the confirmation is another's)."""
    if actor.user is None:
        raise gate.NotAllowed("a limit is asked for by a person")
    account = Account.objects.get(pk=account_id)
    signed = gate.pass_gate(
        user=actor.user,
        role=ASKING_ROLES,
        initiators=set(),
        otp_token=otp_token,
        actor=actor,
        subject=account,
        kind=f"{KIND}.request",
    )
    with transaction.atomic(durable=True):
        pending = instant_limits_request(
            account_id=account_id,
            actor=actor,
            per_payment=per_payment,
            per_day=per_day,
            person_id=signed.person.pk,
        )
        gate.record(
            signed=signed,
            user=actor.user,
            role=ASKING_ROLES,
            kind=KIND,
            verdict="initiate",
            subject=pending or account,
            initiator=signed.person.pk,
            initiators=set(),
            actor=actor,
        )
        return pending


def instant_limit_change_decide(
    *,
    change_id: int,
    approve: bool,
    actor: Actor,
    otp_token: str,
    reason: str = "",
    now: datetime | None = None,
) -> InstantLimitChange:
    """A second person confirms (applies) or rejects a pending higher limit, through the
    gate: the approver or admin role, never the person who asked (nor another of their user
    accounts, nor the creator of the API key that asked), a fresh code."""
    reason = (reason or "").strip()
    if not approve and not reason:
        raise ReasonRequired("say why the higher limit is refused")
    if actor.user is None:
        raise gate.NotAllowed("a limit is confirmed by a person")
    change = InstantLimitChange.objects.select_related("account").get(pk=change_id)
    if actor.user.merchant_id not in (None, change.account.merchant_id):
        raise gate.NotAllowed("this account is another merchant's")
    initiators = {change.requested_by_id} if change.requested_by_id else set()
    verdict = "approve" if approve else "reject"
    signed = gate.pass_gate(
        user=actor.user,
        role=CONFIRMING_ROLES,
        initiators=initiators,
        otp_token=otp_token,
        actor=actor,
        subject=change,
        kind=f"{KIND}.{verdict}",
        now=now,
    )
    with transaction.atomic(durable=True):
        account = _lock_account(change.account_id)
        change = InstantLimitChange.objects.select_for_update(of=("self",)).get(pk=change_id)
        if change.status != InstantLimitChange.Status.PENDING:
            raise InvalidState(
                f"this change is {change.get_status_display().lower()}: nothing to decide"
            )
        decision = gate.record(
            signed=signed,
            user=actor.user,
            role=CONFIRMING_ROLES,
            kind=KIND,
            verdict=verdict,
            subject=change,
            initiator=change.requested_by_id,
            initiators=initiators,
            actor=actor,
            now=now,
            reason=reason,
        )
        change.decided_by = signed.person
        change.decided_by_user = actor.user
        change.decided_at = timezone.now()
        change.decision = decision
        change.reason = reason[:500]
        change.status = (
            InstantLimitChange.Status.APPLIED if approve else InstantLimitChange.Status.REJECTED
        )
        change.save()
        if approve:
            _apply(account, change, actor, action=AuditAction.INSTANT_LIMIT_CONFIRM)
        else:
            audit.record(
                actor=actor,
                action=AuditAction.INSTANT_LIMIT_REJECT,
                target=change,
                reason=reason,
                otp_time_step=signed.otp_time_step,
            )
        return change


@dataclass(frozen=True)
class Limits:
    """An account's limits in force and the change that waits, as pages and the API show."""

    per_payment: Limit
    per_day: Limit
    pending: InstantLimitChange | None


def limits_of(account: Account) -> Limits:
    return Limits(
        per_payment=account.instant_limit_per_payment,
        per_day=account.instant_limit_per_day,
        pending=pending_change(account),
    )


def pending_change(account: Account) -> InstantLimitChange | None:
    return (
        InstantLimitChange.objects.filter(account=account, status=InstantLimitChange.Status.PENDING)
        .select_related("requested_by")
        .first()
    )


def may_decide(change: InstantLimitChange, user: object) -> bool:
    """Whether `user` may confirm or reject `change` now (what the gate will accept)."""
    if change.status != InstantLimitChange.Status.PENDING:
        return False
    initiators = {change.requested_by_id} if change.requested_by_id else set()
    return not gate.refusal(user=user, role=CONFIRMING_ROLES, initiators=initiators)  # type: ignore[arg-type]


def panel(account: Account, user: object) -> dict[str, object]:
    """What the account page's instant limits panel shows."""
    in_force = limits_of(account)
    pending = in_force.pending

    def shown(value: int | None) -> str:
        return "none" if value is None else money.display(value, account.currency)

    return {
        "limit_per_payment": shown(in_force.per_payment),
        "limit_per_day": shown(in_force.per_day),
        "limit_pending": pending,
        "limit_pending_values": [
            (label, shown(value))
            for label, sets, value in (
                ("Per payment", pending.sets_per_payment, pending.per_payment),
                ("Per day", pending.sets_per_day, pending.per_day),
            )
            if sets
        ]
        if pending
        else [],
        "limit_may_decide": bool(pending and may_decide(pending, user)),
        "limit_inputs": {
            "per_payment": ""
            if in_force.per_payment is None
            else money.to_major(in_force.per_payment, account.currency),
            "per_day": ""
            if in_force.per_day is None
            else money.to_major(in_force.per_day, account.currency),
        },
    }


def changes_waiting_for(user: Any) -> QuerySet[InstantLimitChange]:
    """Higher limits this person may confirm: pending, asked by someone else (the
    Approvals page and its count; the gate checks everything again on the decision)."""
    if not any(roles.has_role(user, role) for role in CONFIRMING_ROLES):
        return InstantLimitChange.objects.none()
    waiting = InstantLimitChange.objects.filter(status=InstantLimitChange.Status.PENDING)
    if user.person_id is not None:
        waiting = waiting.exclude(requested_by_id=user.person_id)
    if user.merchant_id is not None:
        waiting = waiting.filter(account__merchant_id=user.merchant_id)
    return waiting.select_related("account", "account__merchant").order_by("requested_at")
