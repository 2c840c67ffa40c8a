"""State changes of sanctions screening: list imports, screening runs, alert decisions.

Each is one function, keyword-only, in one transaction, audited in it. The screening run
after an import, and the daily one, go through the outbox (`compliance.jobs`).
"""

from __future__ import annotations

from collections.abc import Iterable

from django.db import connection, transaction
from django.utils import timezone

from accounts.identity import audit, gate, roles
from accounts.identity.actions import AuditAction
from accounts.identity.audit import Actor
from accounts.ledger import services as ledger
from accounts.ledger.errors import InvalidState, LedgerError
from accounts.ledger.models import Account
from compliance import importers
from compliance.models import (
    AlertProposal,
    SanctionsEntry,
    SanctionsList,
    SanctionsName,
    ScreeningAlert,
    SubjectType,
    Whitelist,
)

__all__ = ["current_index", "sanctions_screen", "screen_name"]
from compliance.names import normalise
from compliance.screening import (  # the app's public functions, in one place
    current_index,
    sanctions_screen,
    screen_name,
)
from outbox import services as outbox
from payments.models import Payment

SCREEN_JOB = "compliance.jobs.screen_everyone"
IMPORT_LOCK = 0x6C697374  # "list": with the source, pg_advisory_xact_lock's key of an import


class AlertDecisionError(LedgerError):
    """The decision cannot be taken."""

    code = "alert_decision_refused"


# ---------------------------------------------------------------------------- lists


def sanctions_list_import(
    *, source: str, paths: list[str], actor: Actor, schedule_screening: bool = True
) -> tuple[SanctionsList, bool]:
    """Import a published list; (the list, False) when these very files were imported before.

    Parsing happens before the transaction: a bad file changes nothing."""
    parsed = importers.parse(source, paths)
    with transaction.atomic():
        # One import of a source at a time: the same files twice, or two versions racing
        # for "current", wait for each other instead of failing on a constraint.
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s, hashtext(%s))", [IMPORT_LOCK, source])
        existing = SanctionsList.objects.filter(source=source, sha256=parsed.sha256).first()
        if existing is not None:
            return existing, False
        SanctionsList.objects.select_for_update().filter(source=source, current=True).update(
            current=False
        )
        imported = SanctionsList.objects.create(
            source=source,
            version=parsed.version[:100],
            published=parsed.published,
            sha256=parsed.sha256,
            files=parsed.files,
            current=True,
            imported_by=actor.label[:200],
        )
        by_reference: dict[str, importers.ParsedEntry] = {}
        for entry in parsed.entries:  # a reference listed twice: its names together
            known = by_reference.get(entry.reference)
            if known is None:
                by_reference[entry.reference] = entry
            else:
                known.names.extend(n for n in entry.names if n not in known.names)
        entries = SanctionsEntry.objects.bulk_create(
            [
                SanctionsEntry(
                    sanctions_list=imported,
                    reference=e.reference,
                    kind=e.kind,
                    name=e.names[0][:500],
                    programme=e.programme,
                    remarks=e.remarks,
                    content_hash=e.content_hash(),
                )
                for e in by_reference.values()
            ],
            batch_size=2000,
        )
        names = []
        for row, parsed_entry in zip(entries, by_reference.values(), strict=True):
            for position, name in enumerate(parsed_entry.names):
                normalised = normalise(name)
                names.append(
                    SanctionsName(
                        entry=row,
                        name=name[:500],
                        normalised=normalised.text[:500],
                        abjad=normalised.abjad,
                        alias=position > 0,
                    )
                )
        SanctionsName.objects.bulk_create(names, batch_size=5000)
        imported.entry_count = len(entries)
        imported.name_count = len(names)
        imported.save(update_fields=["entry_count", "name_count"])
        audit.record(
            actor=actor,
            action=AuditAction.SANCTIONS_LIST_IMPORT,
            target=imported,
            after={
                "source": source,
                "version": imported.version,
                "sha256": imported.sha256,
                "entries": imported.entry_count,
                "names": imported.name_count,
                "files": imported.files,
            },
        )
        if schedule_screening:
            outbox.schedule(
                key=f"sanctions.screen.after-import.{imported.pk}",
                job=SCREEN_JOB,
                args=[],
                queue="default",
            )
    return imported, True


# ------------------------------------------------------------------------- decisions

DECISIONS = {choice.value for choice in AlertProposal.Decision}


def _subject_accounts(alert: ScreeningAlert) -> list[Account]:
    if alert.subject_type == SubjectType.MERCHANT:
        query = Account.objects.filter(merchant_id=alert.subject_ref)
    elif alert.subject_type == SubjectType.ACCOUNT:
        query = Account.objects.filter(pk=alert.subject_ref)
    else:
        return []  # an external payee: no account of ours to freeze
    return list(query.order_by("pk"))


def _confirm(alert: ScreeningAlert, actor: Actor) -> dict[str, list[str]]:
    """Freeze the subject's accounts; their authorised payments can no longer be captured."""
    frozen = []
    for account in _subject_accounts(alert):
        if account.status == Account.Status.ACTIVE:
            ledger.account_freeze(
                account_id=account.pk, actor=actor, reason=f"sanctions alert {alert.pk} confirmed"
            )
            frozen.append(account.number)
    held = Payment.objects.filter(
        debtor_account__number__in=[a.number for a in _subject_accounts(alert)],
        status=Payment.Status.AUTHORIZED,
    ).values_list("pk", flat=True)
    return {"frozen_accounts": frozen, "held_payments": [str(pk) for pk in held]}


KIND = "sanctions_alert"
# The back office proposes and decides; the second person must be another person.
DECIDING_ROLE = roles.ADMIN


def alert_decide(
    *, alert_id: int, decision: str, reason: str, actor: Actor, otp_token: str
) -> ScreeningAlert:
    """Propose a decision on an open alert, or, as a second and different person, take it.

    decision: "false_positive" or "confirmed". The first call records a proposal; a call
    by another person with the same decision takes it (a false positive whitelists the
    name for the subject until the entry changes; a confirmed match freezes the subject's
    accounts); a different decision by another person rejects the proposal and leaves the
    alert open. Every call passes the hub's one gate (accounts/identity/gate.py): the
    person holds the back office's role by a grant, is not in a cool-off, signs with a
    fresh authenticator code, and (the second eyes) is not the proposer, compared as
    persons (a second user account of the proposer is the proposer)."""
    reason = (reason or "").strip()
    if decision not in DECISIONS:
        raise AlertDecisionError(f"decision must be one of {', '.join(sorted(DECISIONS))}")
    if not reason:
        raise AlertDecisionError("a decision needs a reason")
    if actor.user is None:
        raise AlertDecisionError("only a person of the back office decides an alert")
    alert = ScreeningAlert.objects.filter(pk=alert_id).first()
    if alert is None:
        raise AlertDecisionError(f"no alert {alert_id}")
    pending = alert.proposals.filter(status=AlertProposal.Status.PENDING).first()
    proposer = gate.person_of(pending.proposed_by) if pending is not None else None
    initiators = {proposer.pk} if proposer is not None else set()
    if proposer is not None and proposer == gate.person_of(actor.user):
        raise AlertDecisionError(
            "four eyes: a second, different person must take or reject this proposal"
        )
    signed = gate.pass_gate(
        user=actor.user,
        role=DECIDING_ROLE,
        initiators=initiators,
        otp_token=otp_token,
        actor=actor,
        subject=pending if pending is not None else alert,
        kind=KIND,
    )
    with transaction.atomic(durable=True):
        alert = ScreeningAlert.objects.select_for_update(of=("self",)).get(pk=alert_id)
        if alert.status != ScreeningAlert.Status.OPEN:
            raise InvalidState(f"alert {alert_id} is already {alert.status}")
        now_pending = alert.proposals.filter(status=AlertProposal.Status.PENDING).first()
        if (now_pending and now_pending.pk) != (pending and pending.pk):
            raise InvalidState(f"alert {alert_id} changed meanwhile: look at it again")
        if pending is None:
            return _propose(alert, decision, reason, actor, signed)
        return _second(alert, pending, decision, reason, actor, signed, initiators)


def _propose(
    alert: ScreeningAlert, decision: str, reason: str, actor: Actor, signed: gate.Signed
) -> ScreeningAlert:
    assert actor.user is not None
    proposal = AlertProposal.objects.create(
        alert=alert, decision=decision, reason=reason, proposed_by=actor.user
    )
    gate.record(
        signed=signed,
        user=actor.user,
        role=DECIDING_ROLE,
        kind=KIND,
        verdict="initiate",
        subject=proposal,
        initiator=signed.person.pk,
        initiators=set(),
        actor=actor,
        decision=decision,
    )
    audit.record(
        actor=actor,
        action=AuditAction.SANCTIONS_ALERT_PROPOSE,
        target=alert,
        after={"decision": decision, "proposal": proposal.pk},
        reason=reason,
    )
    return alert


def _second(
    alert: ScreeningAlert,
    pending: AlertProposal,
    decision: str,
    reason: str,
    actor: Actor,
    signed: gate.Signed,
    initiators: set[int],
) -> ScreeningAlert:
    assert actor.user is not None
    now = timezone.now()
    agreed = decision == pending.decision
    gate.record(
        signed=signed,
        user=actor.user,
        role=DECIDING_ROLE,
        kind=KIND,
        verdict="approve" if agreed else "reject",
        subject=pending,
        initiator=min(initiators),
        initiators=initiators,
        actor=actor,
        decision=decision,
    )
    pending.second_by = actor.user
    pending.second_at = now
    pending.second_reason = reason
    pending.status = AlertProposal.Status.APPROVED if agreed else AlertProposal.Status.REJECTED
    pending.save(update_fields=["second_by", "second_at", "second_reason", "status"])
    if not agreed:
        audit.record(
            actor=actor,
            action=AuditAction.SANCTIONS_ALERT_REJECT_PROPOSAL,
            target=alert,
            before={"decision": pending.decision},
            reason=reason,
        )
        return alert
    before = {"status": alert.status}
    alert.status = decision
    alert.decided_at = now
    alert.proposed_by_id = pending.proposed_by_id
    alert.decided_by = actor.user
    alert.reason = f"{pending.reason}\n{reason}" if reason != pending.reason else reason
    alert.save(update_fields=["status", "decided_at", "proposed_by", "decided_by", "reason"])
    effects: dict[str, list[str]] = {}
    if decision == AlertProposal.Decision.FALSE_POSITIVE:
        Whitelist.objects.get_or_create(
            subject_type=alert.subject_type,
            subject_ref=alert.subject_ref,
            source=alert.source,
            reference=alert.reference,
            content_hash=alert.content_hash,
            defaults={"alert": alert},
        )
    else:
        effects = _confirm(alert, actor)
    audit.record(
        actor=actor,
        action=AuditAction.SANCTIONS_ALERT_DECIDE,
        target=alert,
        before=before,
        after={"status": alert.status, **effects},
        proposed_by=pending.proposed_by.get_username(),
        reason=alert.reason,
    )
    return alert


def alerts_json(alerts: Iterable[ScreeningAlert]) -> list[dict[str, object]]:
    """CONTRACT.md's `sanctions_alerts` items."""
    return [
        {
            "id": alert.pk,
            "subject": alert.subject,
            "name": alert.name,
            "list": alert.source,
            "entry": alert.reference,
            "score": float(alert.score),
            "status": alert.status,
        }
        for alert in alerts
    ]
