"""State changes of sanctions screening: list imports, screening runs, alert decisions.

Each is one function, keyword-only, in one transaction, audited in it. The screening run
after an import, and the daily one, go through the outbox (`compliance.jobs`).
"""

from __future__ import annotations

from collections.abc import Iterable

from django.db import connection, transaction
from django.utils import timezone

from accounts.identity import audit, gate
from accounts.identity.actions import AuditAction
from accounts.identity.audit import Actor
from accounts.identity.models import User
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


def _person_id(user: User) -> int | None:
    person = gate.person_of(user)
    return person.pk if person is not None else None


def alert_decide(*, alert_id: int, decision: str, reason: str, actor: Actor) -> ScreeningAlert:
    """Propose a decision on an open alert, or, as a second and different person, take it.

    decision: "false_positive" or "confirmed". The first call records a proposal; a call
    by another person with the same decision takes it (a false positive whitelists the
    name for the subject until the entry changes; a confirmed match freezes the subject's
    accounts); a different decision by another person rejects the proposal and leaves the
    alert open. The proposer can neither take nor reject their own proposal."""
    reason = (reason or "").strip()
    if decision not in DECISIONS:
        raise AlertDecisionError(f"decision must be one of {', '.join(sorted(DECISIONS))}")
    if not reason:
        raise AlertDecisionError("a decision needs a reason")
    if actor.user is None:
        raise AlertDecisionError("only a person of the back office decides an alert")
    with transaction.atomic():
        alert = ScreeningAlert.objects.select_for_update(of=("self",)).filter(pk=alert_id).first()
        if alert is None:
            raise AlertDecisionError(f"no alert {alert_id}")
        if alert.status != ScreeningAlert.Status.OPEN:
            raise InvalidState(f"alert {alert_id} is already {alert.status}")
        pending = alert.proposals.filter(status=AlertProposal.Status.PENDING).first()
        if pending is None:
            proposal = AlertProposal.objects.create(
                alert=alert, decision=decision, reason=reason, proposed_by=actor.user
            )
            audit.record(
                actor=actor,
                action=AuditAction.SANCTIONS_ALERT_PROPOSE,
                target=alert,
                after={"decision": decision, "proposal": proposal.pk},
                reason=reason,
            )
            return alert
        # Persons, not user rows: a second user account of the proposer is the proposer.
        if _person_id(pending.proposed_by) == _person_id(actor.user):
            raise AlertDecisionError(
                "four eyes: a second, different person must take or reject this proposal"
            )
        now = timezone.now()
        pending.second_by = actor.user
        pending.second_at = now
        pending.second_reason = reason
        if decision != pending.decision:
            pending.status = AlertProposal.Status.REJECTED
            pending.save(update_fields=["second_by", "second_at", "second_reason", "status"])
            audit.record(
                actor=actor,
                action=AuditAction.SANCTIONS_ALERT_REJECT_PROPOSAL,
                target=alert,
                before={"decision": pending.decision},
                reason=reason,
            )
            return alert
        pending.status = AlertProposal.Status.APPROVED
        pending.save(update_fields=["second_by", "second_at", "second_reason", "status"])
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
            proposed_by=pending.proposed_by.get_username() if pending.proposed_by else "",
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
