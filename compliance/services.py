"""State changes of sanctions screening: list imports, screening runs, alert decisions.

Each is one function, keyword-only, in one transaction, audited in it. The screening run
after an import, and the daily one, go through the outbox (`compliance.jobs`).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from decimal import Decimal

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.module_loading import import_string

from accounts.identity import audit
from accounts.identity.audit import Actor
from accounts.ledger import services as ledger
from accounts.ledger.errors import InvalidState, LedgerError
from accounts.ledger.models import Account, Merchant
from compliance import importers
from compliance.index import SCREEN_THRESHOLD, Hit, NameIndex
from compliance.models import (
    AlertProposal,
    SanctionsEntry,
    SanctionsList,
    SanctionsName,
    ScreeningAlert,
    SubjectType,
    Whitelist,
)
from compliance.names import normalise
from payments import outbox
from payments.models import Payment

SCREEN_JOB = "compliance.jobs.screen_everyone"


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
            action="sanctions.list_import",
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


# ------------------------------------------------------------------------- screening

_index_cache: dict[str, tuple[tuple[int, ...], NameIndex]] = {}


def current_index() -> NameIndex:
    """The index of every current list's names, built once per set of current lists."""
    key = tuple(
        SanctionsList.objects.filter(current=True).order_by("pk").values_list("pk", flat=True)
    )
    cached = _index_cache.get("index")
    if cached is not None and cached[0] == key:
        return cached[1]
    rows = SanctionsName.objects.filter(entry__sanctions_list__current=True).values_list(
        "pk", "entry_id", "name", "normalised"
    )
    index = NameIndex(rows.iterator(chunk_size=10_000))
    _index_cache["index"] = (key, index)
    return index


@dataclass(frozen=True, slots=True)
class ScreeningHit:
    """A possible match, as batch validation sees it (`screen_name`)."""

    source: str
    reference: str
    entry_name: str
    matched_name: str
    kind: str
    score: float
    content_hash: str


def _describe(hits: list[Hit]) -> list[ScreeningHit]:
    if not hits:
        return []
    entries = SanctionsEntry.objects.select_related("sanctions_list").in_bulk(
        [hit.entry_id for hit in hits]
    )
    return [
        ScreeningHit(
            source=entries[hit.entry_id].sanctions_list.source,
            reference=entries[hit.entry_id].reference,
            entry_name=entries[hit.entry_id].name,
            matched_name=hit.matched_name,
            kind=entries[hit.entry_id].kind,
            score=hit.score,
            content_hash=entries[hit.entry_id].content_hash,
        )
        for hit in hits
    ]


def screen_name(name: str) -> list[ScreeningHit]:
    """The possible matches of one name in the current lists, best first (for validation)."""
    return _describe(current_index().search(name, SCREEN_THRESHOLD))


def merchant_subjects() -> Iterator[tuple[str, str, str]]:
    for pk, name in Merchant.objects.values_list("pk", "name").iterator():
        yield SubjectType.MERCHANT, str(pk), name


def account_subjects() -> Iterator[tuple[str, str, str]]:
    accounts = Account.objects.filter(kind=Account.Kind.CUSTOMER).exclude(name="")
    for pk, name in accounts.values_list("pk", "name").iterator():
        yield SubjectType.ACCOUNT, str(pk), name


def payee_subjects() -> Iterator[tuple[str, str, str]]:
    """Stored external payees, from the callables named in SANCTIONS_PAYEE_SOURCES.

    Each yields (account number, name); batches provide theirs (config wires it), so this
    app never imports an app above it."""
    for dotted in getattr(settings, "SANCTIONS_PAYEE_SOURCES", []):
        for number, name in import_string(dotted)():
            yield SubjectType.PAYEE, number[:100], name


def everyone() -> Iterator[tuple[str, str, str]]:
    yield from merchant_subjects()
    yield from account_subjects()
    yield from payee_subjects()


def _known(subject_type: str, subject_ref: str, entry: SanctionsEntry) -> bool:
    """Whether this hit is already an open or confirmed alert, or whitelisted."""
    key = {
        "subject_type": subject_type,
        "subject_ref": subject_ref,
        "source": entry.sanctions_list.source,
        "reference": entry.reference,
        "content_hash": entry.content_hash,
    }
    if Whitelist.objects.filter(**key).exists():
        return True
    return (
        ScreeningAlert.objects.filter(**key)
        .exclude(status=ScreeningAlert.Status.FALSE_POSITIVE)
        .exists()
    )


def sanctions_screen(
    *, actor: Actor, subjects: Iterable[tuple[str, str, str]] | None = None
) -> dict[str, int]:
    """Screen subjects (everyone by default) against the current lists; open new alerts."""
    index = current_index()
    screened = 0
    opened = 0
    found: list[tuple[str, str, str, Hit]] = []
    for subject_type, subject_ref, name in everyone() if subjects is None else subjects:
        screened += 1
        for hit in index.search(name, SCREEN_THRESHOLD):
            found.append((subject_type, subject_ref, name, hit))
    entries = SanctionsEntry.objects.select_related("sanctions_list").in_bulk(
        {hit.entry_id for *_, hit in found}
    )
    with transaction.atomic():
        for subject_type, subject_ref, name, hit in found:
            entry = entries[hit.entry_id]
            if _known(subject_type, subject_ref, entry):
                continue
            alert = ScreeningAlert.objects.create(
                subject_type=subject_type,
                subject_ref=subject_ref,
                name=name[:500],
                entry=entry,
                matched_name=hit.matched_name[:500],
                source=entry.sanctions_list.source,
                reference=entry.reference,
                content_hash=entry.content_hash,
                score=Decimal(str(hit.score)),
            )
            audit.record(
                actor=actor,
                action="sanctions.alert_open",
                target=alert,
                after={
                    "subject": alert.subject,
                    "name": alert.name,
                    "list": alert.source,
                    "entry": alert.reference,
                    "matched_name": alert.matched_name,
                    "score": str(alert.score),
                },
            )
            opened += 1
        audit.record(
            actor=actor,
            action="sanctions.screen",
            target=None,
            after={"screened": screened, "alerts": opened},
            lists=list(SanctionsList.objects.filter(current=True).values_list("source", "version")),
        )
    return {"screened": screened, "alerts": opened}


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
                action="sanctions.alert_propose",
                target=alert,
                after={"decision": decision, "proposal": proposal.pk},
                reason=reason,
            )
            return alert
        if pending.proposed_by_id == actor.user.pk:
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
                action="sanctions.alert_reject_proposal",
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
            action="sanctions.alert_decide",
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
