"""Screening: the index of the current lists, one name (`screen_name`), everyone (`sanctions_screen`).

Who is screened: every merchant, every customer account's holder, and every stored
external payee (from the callables of settings.SANCTIONS_PAYEE_SOURCES). A hit at or
above SCREEN_THRESHOLD opens an alert unless the same subject already has an open or
confirmed alert for the same entry, or a whitelist for it (a false positive) while the
entry's content is unchanged.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from decimal import Decimal

from django.conf import settings
from django.db import connection, transaction
from django.utils.module_loading import import_string

from accounts.identity import audit
from accounts.identity.actions import AuditAction
from accounts.identity.audit import Actor
from accounts.ledger.models import Account, Merchant
from compliance.index import SCREEN_THRESHOLD, Hit, NameIndex
from compliance.models import (
    SanctionsEntry,
    SanctionsList,
    SanctionsName,
    ScreeningAlert,
    SubjectType,
    Whitelist,
)

ALERTS_LOCK = 0x73616E6374  # "sanct": pg_advisory_xact_lock's key while alerts are written
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
        # One writer of alerts at a time: two runs at once (the daily one and an import's)
        # would otherwise both see no alert for a hit and both open one.
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [ALERTS_LOCK])
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
                action=AuditAction.SANCTIONS_ALERT_OPEN,
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
            action=AuditAction.SANCTIONS_SCREEN,
            target=None,
            after={"screened": screened, "alerts": opened},
            lists=list(SanctionsList.objects.filter(current=True).values_list("source", "version")),
        )
    return {"screened": screened, "alerts": opened}
