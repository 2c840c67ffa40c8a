"""How much a batch adds to its debtors' and payees' exposure on its day: the approval rule
counts exposure, not files, so no amount can be split under a threshold.

- Per debtor account and currency: this batch's total plus every other batch of the same
  merchant committed for the same day (approved, scheduled, executing or done), whichever
  channel uploaded it (dashboard or API).
- Per payee: what this batch pays one creditor account from one debtor (its rows to that
  payee together), plus what those other batches pay the same payee from the same debtor.

The batch's own figures were counted once at validation (`Batch.valid_totals`); the other
batches' per-payee sums are read by one statement, only when such batches exist.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from django.db import connection
from django.db.models import QuerySet
from django.utils import timezone

from batches.models import Batch

COMMITTED = (
    Batch.Status.APPROVED,
    Batch.Status.SCHEDULED,
    Batch.Status.EXECUTING,
    Batch.Status.COMPLETED,
    Batch.Status.COMPLETED_WITH_ERRORS,
)


@dataclass(frozen=True)
class Exposure:
    debtor: str  # account number
    currency: str
    total: int  # the day's total from the debtor, this batch included (minor units)
    this_batch: int
    largest_payee: int  # the most one payee receives from the debtor on the day
    other_batches: int  # how many other batches share the day


def day_of(batch: Batch) -> date:
    return batch.execution_date or timezone.localdate(batch.created_at)


def _same_day(batch: Batch) -> QuerySet[Batch]:
    day = day_of(batch)
    others = Batch.objects.filter(merchant_id=batch.merchant_id, status__in=COMMITTED).exclude(
        pk=batch.pk
    )
    # The day is the execution date, or the upload day for a batch paid at once.
    return others.filter(execution_date=day) | others.filter(
        execution_date__isnull=True, created_at__date=day
    )


def _lines(batch: Batch) -> list[dict]:
    if batch.valid_totals:
        return batch.valid_totals
    # A batch validated before the totals were kept: counted from its rows.
    from batches.selectors import totals_by_debtor

    return [
        {
            "debtor": line["debtor_account__number"],
            "currency": line["currency"],
            "total": line["total"],
            "largest": batch.largest_amount or line["total"],
        }
        for line in totals_by_debtor(batch)
    ]


OTHER_PAYEES_SQL = """
    WITH mine AS (
        SELECT coalesce(i.debtor_account_id, b.debtor_account_id) AS debtor,
               i.creditor_account_id AS creditor, i.currency, sum(i.amount) AS total
          FROM batches_batchitem AS i JOIN batches_batch AS b ON b.id = i.batch_id
         WHERE i.batch_id = %(batch)s AND i.status = 'valid'
         GROUP BY 1, 2, 3
    ), theirs AS (
        SELECT coalesce(i.debtor_account_id, b.debtor_account_id) AS debtor,
               i.creditor_account_id AS creditor, i.currency, sum(i.amount) AS total
          FROM batches_batchitem AS i JOIN batches_batch AS b ON b.id = i.batch_id
         WHERE i.batch_id = ANY(%(others)s) AND i.status IN ('valid', 'paid')
         GROUP BY 1, 2, 3
    )
    SELECT a.number, m.currency, max(m.total + t.total)
      FROM mine AS m JOIN theirs AS t USING (debtor, creditor, currency)
      JOIN accounts_account AS a ON a.id = m.debtor
     GROUP BY a.number, m.currency
"""


def exposures(batch: Batch) -> list[Exposure]:
    """The batch's exposure per debtor account and currency on its day."""
    others = list(_same_day(batch).only("id", "valid_totals", "largest_amount", "debtor_account"))
    other_totals: dict[tuple[str, str], int] = {}
    for other in others:
        for line in _lines(other):
            key = (line["debtor"], line["currency"])
            other_totals[key] = other_totals.get(key, 0) + line["total"]
    shared_payees: dict[tuple[str, str], int] = {}
    if others:
        with connection.cursor() as cursor:
            cursor.execute(OTHER_PAYEES_SQL, {"batch": batch.pk, "others": [o.pk for o in others]})
            shared_payees = {(number, currency): total for number, currency, total in cursor}
    result = []
    for line in _lines(batch):
        key = (line["debtor"], line["currency"])
        own_payee = line.get("largest_payee", line.get("largest", 0))
        result.append(
            Exposure(
                debtor=line["debtor"],
                currency=line["currency"],
                total=line["total"] + other_totals.get(key, 0),
                this_batch=line["total"],
                largest_payee=max(own_payee, shared_payees.get(key, 0)),
                other_batches=len(others),
            )
        )
    return result
