"""Four eyes: approve, reject (each signed with a fresh authenticator code) and cancel."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any
from uuid import UUID

from django.db import transaction
from django.utils import timezone

from accounts.identity import audit, gate
from accounts.identity.actions import AuditAction
from accounts.identity.audit import Actor
from accounts.identity.models import Decision
from accounts.identity.roles import APPROVER
from accounts.ledger.errors import (
    InvalidState,
)
from accounts.models import Merchant, User
from batches import notifications, payee_screening, selectors
from batches.models import Approval, Batch
from batches.services.base import (
    BatchError,
    FundsShort,
    NotAllowed,
    lock,
    start_or_schedule,
)
from batches.services.holds import release_holds, reserve_funds
from batches.services.payee_verification import mismatches as vop_mismatches

KIND = "batch"


class MismatchesNotConfirmed(BatchError):
    """An approval over rows whose payee's name does not match, without confirming them."""

    code = "vop_mismatches_not_confirmed"
    status = 409


def _primary_initiator(persons: set[int]) -> int | None:
    return min(persons) if persons else None


def _decide(
    *,
    batch_id: UUID,
    approver: User,
    verdict: str,
    actor: Actor,
    otp_token: str,
    reason: str = "",
    now: datetime | None = None,
) -> tuple[Batch, gate.Signed, set[int]]:
    """Through the gate: the role, separation of duties (persons, every channel), the
    cool-off, a fresh code. Returns the locked batch inside the caller's transaction."""
    batch = Batch.objects.select_related("uploaded_by", "api_key").get(pk=batch_id)
    persons = selectors.initiators(batch)
    signed = gate.pass_gate(
        user=approver,
        role=APPROVER,
        initiators=persons,
        otp_token=otp_token,
        actor=actor,
        subject=batch,
        kind=f"{KIND}.{verdict}",
        now=now,
    )
    return batch, signed, persons


def _record(
    *,
    batch_id: UUID,
    approver: User,
    verdict: str,
    signed: gate.Signed,
    persons: set[int],
    actor: Actor,
    reason: str = "",
    now: datetime | None = None,
    **detail: Any,
) -> Batch:
    """Under the merchant's lock (the day's exposure is counted by one decision at a time)
    and the batch's: the decision, once per person, and the approval row."""
    merchant_id = Batch.objects.filter(pk=batch_id).values_list("merchant_id", flat=True)[0]
    Merchant.objects.select_for_update(of=("self",)).filter(pk=merchant_id).first()
    batch = lock(batch_id)
    if batch.status != Batch.Status.AWAITING_APPROVAL:
        raise InvalidState(
            f"the batch is {batch.get_status_display().lower()}, not awaiting approval"
        )
    if (
        Decision.objects.filter(kind=KIND, subject_id=str(batch.pk), person=signed.person).exists()
        or batch.approvals.filter(approver=approver).exists()
    ):
        raise InvalidState("you have already approved this batch: another approver must decide")
    gate.record(
        signed=signed,
        user=approver,
        role=APPROVER,
        kind=KIND,
        verdict=verdict,
        subject=batch,
        initiator=_primary_initiator(persons),
        initiators=persons,
        actor=actor,
        now=now,
        validated_sha256=batch.validated_sha256,
        reason=reason,
        **detail,
    )
    Approval.objects.create(
        batch=batch,
        approver=approver,
        decision=verdict,
        reason=reason[:500],
        validated_sha256=batch.validated_sha256,
        otp_time_step=signed.otp_time_step,
        ip=actor.ip,
    )
    return batch


def batch_approve(
    *,
    batch_id: UUID,
    approver: User,
    actor: Actor,
    otp_token: str,
    today: date | None = None,
    now: datetime | None = None,
    confirm_mismatches: bool = False,
) -> Batch:
    """One approval through the gate; the last one needed holds the funds and starts it.

    Rows whose payee's name is a close match or no match (Verification of Payee) are
    approved only with `confirm_mismatches`: without it the approval is refused before the
    gate (the code is not spent) and nothing changes; with it the decision and the audit
    record the confirmation and the count of rows confirmed."""
    verdict = Approval.Decision.APPROVE
    # Before the code is spent: an open sanctions alert on a payee holds the approval.
    payee_screening.check_approvable(Batch.objects.get(pk=batch_id))
    # Fixed at validation: the rows' results never change afterwards.
    mismatched = vop_mismatches(Batch.objects.get(pk=batch_id))
    if mismatched and not confirm_mismatches:
        raise MismatchesNotConfirmed(
            f"{mismatched} row{'s' if mismatched != 1 else ''} of this batch name"
            f"{'' if mismatched != 1 else 's'} a payee whose name is not the account holder's "
            "(Verification of Payee: close match or no match); confirm that you approve the "
            "batch over them"
        )
    confirmed: dict[str, Any] = {"vop_mismatches_confirmed": mismatched} if mismatched else {}
    _, signed, persons = _decide(
        batch_id=batch_id,
        approver=approver,
        verdict=verdict,
        actor=actor,
        otp_token=otp_token,
        now=now,
    )
    try:
        with transaction.atomic(durable=True):
            batch = _record(
                batch_id=batch_id,
                approver=approver,
                verdict=verdict,
                signed=signed,
                persons=persons,
                actor=actor,
                now=now,
                **confirmed,
            )
            approvals = batch.approvals.filter(decision=Approval.Decision.APPROVE).count()
            needed = selectors.approvals_required(batch)
            audit.record(
                actor=actor,
                action=AuditAction.BATCH_APPROVE,
                target=batch,
                approvals=approvals,
                needed=needed,
                validated_sha256=batch.validated_sha256,
                otp_time_step=signed.otp_time_step,
                **confirmed,
            )
            if approvals < needed:
                notifications.batch_awaits_approval(batch)  # the approvers still to decide
            else:
                reserve_funds(batch)
                notifications.batch_decided(batch, decision="approved", by=approver)
                batch.status = Batch.Status.APPROVED
                batch.approved_at = timezone.now()
                batch.save(update_fields=["status", "approved_at", "updated_at"])
                start_or_schedule(batch, today or timezone.localdate())
            return batch
    except FundsShort as short:
        # The approval is rolled back with the holds; the refusal itself stays on record.
        with transaction.atomic(durable=True):
            audit.record(
                actor=actor,
                action=AuditAction.BATCH_APPROVE_REFUSED,
                target=Batch.objects.filter(pk=batch_id).first(),
                reason_code=short.reason_code,
                reason=short.detail,
            )
        raise


def batch_reject(
    *,
    batch_id: UUID,
    approver: User,
    reason: str,
    actor: Actor,
    otp_token: str,
    now: datetime | None = None,
) -> Batch:
    """An approver says no, with a reason, through the same gate as an approval."""
    reason = reason.strip()
    if not reason:
        raise BatchError("a rejection needs a reason")
    verdict = Approval.Decision.REJECT
    _, signed, persons = _decide(
        batch_id=batch_id,
        approver=approver,
        verdict=verdict,
        actor=actor,
        otp_token=otp_token,
        reason=reason,
        now=now,
    )
    with transaction.atomic(durable=True):
        batch = _record(
            batch_id=batch_id,
            approver=approver,
            verdict=verdict,
            signed=signed,
            persons=persons,
            actor=actor,
            reason=reason,
            now=now,
        )
        release_holds(batch)
        batch.status = Batch.Status.REJECTED
        batch.decision_reason = reason[:500]
        batch.finished_at = timezone.now()
        batch.save(update_fields=["status", "decision_reason", "finished_at", "updated_at"])
        audit.record(
            actor=actor,
            action=AuditAction.BATCH_REJECT,
            target=batch,
            reason=reason,
            otp_time_step=signed.otp_time_step,
        )
        notifications.batch_decided(batch, decision="rejected", by=approver, reason=reason)
        return batch


@transaction.atomic
def batch_cancel(
    *, batch_id: UUID, actor: Actor, user: User | None = None, merchant: Merchant | None = None
) -> Batch:
    """The maker withdraws a batch not yet approved (by the same user, or through the API)."""
    batch = lock(batch_id)
    if user is not None and batch.uploaded_by_id != user.pk:
        raise NotAllowed("only whoever uploaded a batch may cancel it")
    if merchant is not None and batch.merchant_id != merchant.pk:
        raise NotAllowed("not your batch")
    if batch.status not in (
        Batch.Status.UPLOADED,
        Batch.Status.VALIDATING,
        Batch.Status.AWAITING_APPROVAL,
    ):
        raise InvalidState(f"a {batch.get_status_display().lower()} batch cannot be cancelled")
    release_holds(batch)
    batch.status = Batch.Status.CANCELLED
    batch.finished_at = timezone.now()
    batch.save(update_fields=["status", "finished_at", "updated_at"])
    audit.record(actor=actor, action=AuditAction.BATCH_CANCEL, target=batch)
    return batch
