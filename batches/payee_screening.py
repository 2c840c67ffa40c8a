"""New and external payees of a batch screened against the sanctions lists at validation,
and the approval held while an alert on one of them is undecided.

Validation calls `screen_payees(batch)` once its rows are stored: every distinct creditor
name of a valid row that pays a new payee (FLAG_NEW_PAYEE) or an account at another bank is
searched once in the in-memory index (compliance/index.py); a name with a possible match
opens an alert as the daily screening does (subject `payee:<account number>`, through
`compliance.screening.sanctions_screen`, which skips what is whitelisted or already open),
and every row paying a payee with an open or confirmed alert is flagged FLAG_SANCTIONS.
`check_approvable(batch)` refuses an approval while such an alert concerns the batch.
"""

from __future__ import annotations

from collections import defaultdict

from django.db.models import F, Q

from accounts.identity.audit import Actor
from batches.models import Batch, BatchItem
from batches.services.base import BatchError
from compliance.index import SCREEN_THRESHOLD
from compliance.models import SanctionsList, ScreeningAlert, SubjectType
from compliance.screening import current_index, sanctions_screen

# An alert that holds the batch: not decided yet, or decided a true match.
HOLDING = (ScreeningAlert.Status.OPEN, ScreeningAlert.Status.CONFIRMED)


class SanctionsHold(BatchError):
    """A payee of the batch may be on a sanctions list: the alert is decided first."""

    code = "sanctions_alert_open"
    reason_code = "NARR"
    status = 409


def _screened_rows(batch: Batch):
    """The valid rows that pay a new payee or an account at another bank, with a name."""
    return (
        BatchItem.objects.filter(batch=batch, status=BatchItem.Status.VALID)
        .annotate(new_payee=F("flags").bitand(BatchItem.FLAG_NEW_PAYEE))
        .filter(Q(new_payee__gt=0) | Q(creditor_account__isnull=True))
        .exclude(creditor_name="")
        .exclude(creditor_account_number="")
    )


def screen_payees(batch: Batch) -> int:
    """Screen the batch's new and external payees (each distinct name once), open alerts
    for possible matches and flag their rows; how many rows are flagged. In the caller's
    (validation's) transaction."""
    if not SanctionsList.objects.filter(current=True).exists():
        return 0  # nothing to screen against (a hub with no list imported yet)
    by_name: dict[str, set[str]] = defaultdict(set)
    for number, name in (
        _screened_rows(batch)
        .values_list("creditor_account_number", "creditor_name")
        .distinct()
        .order_by()
        .iterator(chunk_size=10_000)
    ):
        by_name[name].add(number)
    if not by_name:
        return 0
    index = current_index()
    hits = {name for name in by_name if index.search(name, SCREEN_THRESHOLD)}
    if hits:
        sanctions_screen(
            actor=Actor.system(f"batch validation {batch.pk}"),
            subjects=[
                (SubjectType.PAYEE, number[:100], name)
                for name in sorted(hits)
                for number in sorted(by_name[name])
            ],
        )
    numbers = {number for numbers in by_name.values() for number in numbers}
    held = set(
        ScreeningAlert.objects.filter(
            subject_type=SubjectType.PAYEE, subject_ref__in=numbers, status__in=HOLDING
        ).values_list("subject_ref", flat=True)
    )
    if not held:
        return 0
    return (
        _screened_rows(batch)
        .filter(creditor_account_number__in=held)
        .update(flags=F("flags").bitor(BatchItem.FLAG_SANCTIONS))
    )


def alerts_holding(batch: Batch) -> list[ScreeningAlert]:
    """The open or confirmed alerts on the payees of the batch's flagged rows."""
    numbers = (
        BatchItem.objects.filter(batch=batch)
        .annotate(sanctions=F("flags").bitand(BatchItem.FLAG_SANCTIONS))
        .filter(sanctions__gt=0)
        .values_list("creditor_account_number", flat=True)
    )
    return list(
        ScreeningAlert.objects.filter(
            subject_type=SubjectType.PAYEE, subject_ref__in=numbers, status__in=HOLDING
        ).order_by("pk")
    )


def check_approvable(batch: Batch) -> None:
    """Refuse an approval while a possible sanctions match on a payee of the batch is open
    (or was confirmed): a compliance officer decides it first (four eyes, in the back
    office's Screening alerts); a false positive lets the batch be approved."""
    if not (batch.flag_counts or {}).get("sanctions"):
        return
    alerts = alerts_holding(batch)
    if not alerts:
        return
    confirmed = [alert for alert in alerts if alert.status == ScreeningAlert.Status.CONFIRMED]
    names = ", ".join(sorted({alert.name for alert in alerts}))
    ids = ", ".join(str(alert.pk) for alert in alerts)
    if confirmed:
        raise SanctionsHold(
            f"a payee of this batch ({names}) is a confirmed sanctions match (alert {ids}): "
            "the batch cannot be approved; reject it"
        )
    raise SanctionsHold(
        f"a payee of this batch ({names}) may be on a sanctions list (open alert {ids}): "
        "a compliance officer decides the alert first (Screening alerts in the back office); "
        "approve once it is decided a false positive"
    )
