"""Four eyes: approve, reject (each signed with a fresh authenticator code) and cancel."""

from __future__ import annotations

from datetime import date, datetime
from uuid import UUID

from django.db import transaction
from django.utils import timezone
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts.identity import audit
from accounts.identity.actions import AuditAction
from accounts.identity.audit import Actor
from accounts.identity.roles import APPROVER, has_role
from accounts.ledger.errors import (
    InvalidState,
)
from accounts.models import Merchant, User
from batches import notifications, selectors
from batches.models import Approval, Batch
from batches.services.base import (
    BatchError,
    CodeRefused,
    FundsShort,
    NotAllowed,
    lock,
    start_or_schedule,
)
from batches.services.holds import release_holds, reserve_funds

# --- four eyes ----------------------------------------------------------------------------


def _check_approver(batch: Batch, user: User, now: datetime) -> None:
    # Superuser status is not the approver role: an admin approves only if made an approver.
    if not has_role(user, APPROVER):
        raise NotAllowed("only an approver may approve or reject a batch")
    if batch.uploaded_by_id == user.pk:
        raise NotAllowed("you uploaded this batch: another approver must decide on it")
    barred = User.objects.filter(pk=user.pk).values_list("approval_barred_until", flat=True)[0]
    if barred is not None and barred > now:
        raise NotAllowed(
            "your credentials or roles changed recently: you may not approve or reject "
            f"before {timezone.localtime(barred):%Y-%m-%d %H:%M %Z}"
        )


def _sign(*, user: User, otp_token: str, actor: Actor, batch_id: UUID, decision: str) -> int:
    """Check a fresh code of the user's authenticator; its time step, or CodeRefused.

    Runs in a transaction of its own, committed whatever the decision becomes: a
    wrong code counts towards django-otp's throttle and stays in the trail, and a
    right one is spent (django-otp accepts a step only after the device's last one,
    so a code used at sign-in, or for another decision, is refused).
    """
    with transaction.atomic(durable=True):
        device = (
            TOTPDevice.objects.select_for_update()
            .filter(user_id=user.pk, confirmed=True)
            .order_by("pk")
            .first()
        )
        refusal = ""
        if device is None:
            refusal = "you have no authenticator: enrol one first"
        elif not device.verify_is_allowed()[0]:
            refusal = "too many wrong codes in a row: wait a little and try again"
        elif not (otp_token or "").strip():
            refusal = "enter the code that your authenticator app shows now"
        elif not device.verify_token(otp_token.strip()):
            refusal = "the authenticator code is wrong or was used before: wait for a new one"
        if not refusal:
            assert device is not None
            return device.last_t
        audit.record(
            actor=actor,
            action=AuditAction.BATCH_DECISION_CODE_REFUSED,
            target=Batch.objects.filter(pk=batch_id).first(),
            decision=decision,
            reason=refusal,
        )
    raise CodeRefused(refusal)


def _decide(
    *,
    batch_id: UUID,
    approver: User,
    decision: str,
    actor: Actor,
    otp_time_step: int,
    reason: str = "",
    now: datetime | None = None,
) -> Batch:
    """Lock the batch, check that this approver may decide now, record the decision."""
    batch = lock(batch_id)
    _check_approver(batch, approver, now or timezone.now())
    if batch.status != Batch.Status.AWAITING_APPROVAL:
        raise InvalidState(
            f"the batch is {batch.get_status_display().lower()}, not awaiting approval"
        )
    if batch.approvals.filter(approver=approver).exists():
        # One decision per approver (a unique constraint too): another approver must decide.
        raise InvalidState("you have already approved this batch: another approver must decide")
    Approval.objects.create(
        batch=batch,
        approver=approver,
        decision=decision,
        reason=reason[:500],
        validated_sha256=batch.validated_sha256,
        otp_time_step=otp_time_step,
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
) -> Batch:
    """One approval, signed with a fresh authenticator code; the last one needed starts it."""
    _check_approver(Batch.objects.get(pk=batch_id), approver, now or timezone.now())
    step = _sign(
        user=approver, otp_token=otp_token, actor=actor, batch_id=batch_id, decision="approve"
    )
    try:
        with transaction.atomic(durable=True):
            batch = _decide(
                batch_id=batch_id,
                approver=approver,
                decision=Approval.Decision.APPROVE,
                actor=actor,
                otp_time_step=step,
                now=now,
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
                otp_time_step=step,
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
    """An approver says no, with a reason, signed like an approval."""
    reason = reason.strip()
    if not reason:
        raise BatchError("a rejection needs a reason")
    # Who may not decide is told so before any code is checked (and spent); again under lock.
    _check_approver(Batch.objects.get(pk=batch_id), approver, now or timezone.now())
    step = _sign(
        user=approver, otp_token=otp_token, actor=actor, batch_id=batch_id, decision="reject"
    )
    with transaction.atomic(durable=True):
        batch = _decide(
            batch_id=batch_id,
            approver=approver,
            decision=Approval.Decision.REJECT,
            actor=actor,
            otp_time_step=step,
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
            otp_time_step=step,
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
