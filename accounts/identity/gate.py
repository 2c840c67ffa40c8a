"""The one gate of every decision that moves money or changes who may move it.

Batch approvals and rejections, back-office refunds, voids, reversals and webhook retries,
role grants (and, next, returns and recalls) all pass `gate.decide`:
- the deciding person holds the role that the decision needs, as an explicit grant
  (`RoleGrant`): no group name, superuser flag or admin setting confers it;
- the person is not whoever initiated the subject, compared as persons through every
  channel: a second user account of the same person, or an API key the person created, is
  the same person (the database refuses it too: CHECK `decision_not_by_initiator`);
- the person is not in a cool-off (a password, an authenticator or a role set up by
  someone else, on any of the person's user accounts);
- the decision is signed with a fresh code of the person's authenticator, spent by it;
- the decision is written (`Decision`, at most one per person and subject) and audited in
  the caller's transaction.
The caller then does what was decided, through its own services, in that same transaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import models, transaction
from django.db.models import Max
from django.utils import timezone
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts.identity import audit, roles
from accounts.identity.actions import AuditAction
from accounts.identity.audit import Actor
from accounts.identity.models import Decision, Person, User
from common.errors import DomainError


class NotAllowed(DomainError):
    """This person may not take this decision."""

    code = "not_allowed"
    status = 403


class CodeRefused(DomainError):
    """The decision's authenticator code is missing, wrong, or was used before."""

    code = "otp_refused"
    status = 403


def person_of(user: User | None) -> Person | None:
    """The person behind a user account (made on first need for an account from before)."""
    if user is None:
        return None
    if user.person_id is None:
        with transaction.atomic():
            locked = User.objects.select_for_update().get(pk=user.pk)
            if locked.person_id is None:
                locked.person = Person.objects.create(
                    name=locked.get_full_name() or locked.username
                )
                locked.save(update_fields=["person"])
            user.person_id = locked.person_id
    return user.person


def barred_until(person_id: int, now: datetime) -> datetime | None:
    """The end of the person's cool-off, whichever of their user accounts it was set on."""
    barred = User.objects.filter(person_id=person_id).aggregate(until=Max("approval_barred_until"))[
        "until"
    ]
    return barred if barred is not None and barred > now else None


Roles = str | tuple[str, ...]  # one role, or any of several


def refusal(*, user: User, role: Roles, initiators: set[int], now: datetime | None = None) -> str:
    """Why this user may not decide (the role, separation of duties, the cool-off), or ""."""
    person = person_of(user)
    if person is None or not user.is_active:
        return "this account may not decide"
    wanted = (role,) if isinstance(role, str) else role
    if not any(roles.has_role(user, one) for one in wanted):
        names = " or ".join(f"{'an' if one[:1] in 'aeiou' else 'a'} {one}" for one in wanted)
        return f"only {names} may take this decision (a role granted to the person)"
    if person.pk in initiators:
        return (
            "you initiated this (as this or another of your accounts, or through an API key"
            " you created): another person must decide"
        )
    until = barred_until(person.pk, now or timezone.now())
    if until is not None:
        return (
            "your credentials or roles changed recently: you may not decide "
            f"before {timezone.localtime(until):%Y-%m-%d %H:%M %Z}"
        )
    return ""


def check(*, user: User, role: Roles, initiators: set[int], now: datetime | None = None) -> None:
    reason = refusal(user=user, role=role, initiators=initiators, now=now)
    if reason:
        raise NotAllowed(reason)


def sign(
    *, user: User, otp_token: str, actor: Actor, subject: models.Model | None, kind: str
) -> int:
    """Check a fresh code of the user's authenticator; its time step, or CodeRefused.

    A transaction of its own, committed whatever the decision becomes: a wrong code counts
    towards django-otp's throttle and stays in the trail, and a right one is spent
    (django-otp accepts a time step only after the device's last one, so the code used at
    sign-in, or for another decision, is refused).
    """
    with transaction.atomic(durable=True):
        device = (
            TOTPDevice.objects.select_for_update()
            .filter(user_id=user.pk, confirmed=True)
            .order_by("pk")
            .first()
        )
        reason = ""
        if device is None:
            reason = "you have no authenticator: enrol one first"
        elif not device.verify_is_allowed()[0]:
            reason = "too many wrong codes in a row: wait a little and try again"
        elif not (otp_token or "").strip():
            reason = "enter the code that your authenticator app shows now"
        elif not device.verify_token(otp_token.strip()):
            reason = "the authenticator code is wrong or was used before: wait for a new one"
        if not reason:
            assert device is not None
            return int(device.last_t)
        audit.record(
            actor=actor,
            action=AuditAction.DECISION_CODE_REFUSED,
            target=subject,
            decision=kind,
            reason=reason,
        )
    raise CodeRefused(reason)


@dataclass(frozen=True)
class Signed:
    """A person's decision that passed the gate: what the caller records it with."""

    person: Person
    otp_time_step: int


def pass_gate(
    *,
    user: User,
    role: Roles,
    initiators: set[int],
    otp_token: str,
    actor: Actor,
    subject: models.Model,
    kind: str,
    now: datetime | None = None,
) -> Signed:
    """Who may not decide is told so before any code is checked (and spent); then the code.
    Outside the caller's transaction (the code is spent whatever happens next); `record`
    checks again under the caller's locks."""
    check(user=user, role=role, initiators=initiators, now=now)
    step = sign(user=user, otp_token=otp_token, actor=actor, subject=subject, kind=kind)
    person = person_of(user)
    assert person is not None
    return Signed(person=person, otp_time_step=step)


def record(
    *,
    signed: Signed,
    user: User,
    role: Roles,
    kind: str,
    verdict: str,
    subject: models.Model,
    initiator: int | None,
    initiators: set[int],
    actor: Actor,
    amount: int | None = None,
    currency: str = "",
    now: datetime | None = None,
    **detail: Any,
) -> Decision:
    """Write the decision in the caller's transaction, after checking the rules again under
    its locks: the role, separation of duties and the cool-off may have changed since."""
    check(user=user, role=role, initiators=initiators, now=now)
    decision = Decision.objects.create(
        kind=kind,
        subject_type=subject._meta.label,
        subject_id=str(subject.pk),
        verdict=verdict,
        person=signed.person,
        user=user,
        initiator_id=initiator,
        amount=amount,
        currency=currency,
        otp_time_step=signed.otp_time_step,
        ip=actor.ip,
        detail={key: str(value) for key, value in detail.items()},
    )
    return decision
