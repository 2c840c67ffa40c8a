"""Possible duplicates and the largest rows, flagged set-based after the rows are stored."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import connection
from django.utils import timezone

from batches.models import Batch, BatchItem
from payments import lookups

_DUPLICATE_SQL = [
    # The possible duplicates, after the rows are stored (new payees and the largest rows
    # are flagged while they are stored). Each check joins the batch's DISTINCT keys, not
    # its rows, with the other side: a file of 20,000 identical rows against a batch of
    # 20,000 more is one key, not 400,000,000 pairs. The same creditor, amount and
    # reference as a payment of the last days...
    """
    WITH keys AS (
        SELECT DISTINCT creditor_account_id, amount, reference FROM batches_batchitem
         WHERE batch_id = %(batch)s AND status = 'valid' AND reference <> ''
    ), hits AS (
        SELECT DISTINCT ON (k.creditor_account_id, k.amount, k.reference)
               k.creditor_account_id, k.amount, k.reference, p.id AS payment_id
          FROM keys AS k
          JOIN ({recent}) AS p
            ON p.creditor_account_id = k.creditor_account_id AND p.amount = k.amount
           AND p.reference = left(k.reference, 140)
         ORDER BY k.creditor_account_id, k.amount, k.reference, p.created_at DESC
    )
    UPDATE batches_batchitem AS i
       SET flags = i.flags | %(duplicate)s, duplicate_of_payment_id = h.payment_id
      FROM hits AS h
     WHERE i.batch_id = %(batch)s AND i.status = 'valid'
       AND i.creditor_account_id = h.creditor_account_id AND i.amount = h.amount
       AND i.reference = h.reference
    """,
    # ...or its end-to-end id
    """
    WITH keys AS (
        SELECT DISTINCT left(end_to_end_id, 35) AS end_to_end_id FROM batches_batchitem
         WHERE batch_id = %(batch)s AND status = 'valid' AND end_to_end_id <> ''
    ), hits AS (
        SELECT DISTINCT ON (k.end_to_end_id) k.end_to_end_id, p.id AS payment_id
          FROM keys AS k
          JOIN ({recent}) AS p ON p.end_to_end_id = k.end_to_end_id
         ORDER BY k.end_to_end_id, p.created_at DESC
    )
    UPDATE batches_batchitem AS i
       SET flags = i.flags | %(duplicate)s, duplicate_of_payment_id = h.payment_id
      FROM hits AS h
     WHERE i.batch_id = %(batch)s AND i.status = 'valid'
       AND left(i.end_to_end_id, 35) = h.end_to_end_id AND i.duplicate_of_payment_id IS NULL
    """,
    # ...or a row of another batch of the last days that is still to be paid
    """
    WITH pending AS (
        SELECT id FROM batches_batch
         WHERE merchant_id = %(merchant)s AND id <> %(batch)s AND created_at >= %(since)s
           AND status IN ('awaiting_approval', 'approved', 'scheduled', 'executing')
    ), keys AS (
        SELECT DISTINCT creditor_account_id, amount, reference FROM batches_batchitem
         WHERE batch_id = %(batch)s AND status = 'valid' AND reference <> ''
    ), hits AS (
        SELECT DISTINCT ON (k.creditor_account_id, k.amount, k.reference)
               k.creditor_account_id, k.amount, k.reference, o.batch_id
          FROM keys AS k
          JOIN batches_batchitem AS o
            ON o.creditor_account_id = k.creditor_account_id AND o.amount = k.amount
           AND o.reference = k.reference
         WHERE o.batch_id IN (SELECT id FROM pending) AND o.status = 'valid'
         ORDER BY k.creditor_account_id, k.amount, k.reference, o.batch_id
    )
    UPDATE batches_batchitem AS i
       SET flags = i.flags | %(duplicate)s, duplicate_of_batch_id = h.batch_id
      FROM hits AS h
     WHERE i.batch_id = %(batch)s AND i.status = 'valid'
       AND i.creditor_account_id = h.creditor_account_id AND i.amount = h.amount
       AND i.reference = h.reference AND i.duplicate_of_payment_id IS NULL
    """,
    """
    WITH pending AS (
        SELECT id FROM batches_batch
         WHERE merchant_id = %(merchant)s AND id <> %(batch)s AND created_at >= %(since)s
           AND status IN ('awaiting_approval', 'approved', 'scheduled', 'executing')
    ), keys AS (
        SELECT DISTINCT end_to_end_id FROM batches_batchitem
         WHERE batch_id = %(batch)s AND status = 'valid' AND end_to_end_id <> ''
    ), hits AS (
        SELECT DISTINCT ON (k.end_to_end_id) k.end_to_end_id, o.batch_id
          FROM keys AS k
          JOIN batches_batchitem AS o ON o.end_to_end_id = k.end_to_end_id
         WHERE o.batch_id IN (SELECT id FROM pending) AND o.status = 'valid'
         ORDER BY k.end_to_end_id, o.batch_id
    )
    UPDATE batches_batchitem AS i
       SET flags = i.flags | %(duplicate)s, duplicate_of_batch_id = h.batch_id
      FROM hits AS h
     WHERE i.batch_id = %(batch)s AND i.status = 'valid' AND i.end_to_end_id = h.end_to_end_id
       AND i.duplicate_of_payment_id IS NULL AND i.duplicate_of_batch_id IS NULL
    """,
]
# The payments side is the payments app's subquery: only it knows its table.
DUPLICATE_SQL = [sql.replace("{recent}", lookups.RECENT_PAYMENTS_SQL) for sql in _DUPLICATE_SQL]


def flag_rows(
    batch: Batch, *, largest_rows: list[int], new_payees: int, now: datetime | None = None
) -> dict[str, int]:
    """Flag the largest rows and the possible duplicates; the count of each flag.

    Set-based, after the rows are stored: the few largest rows by their (batch, row) key,
    then one statement per duplicate check, hash joins against the merchant's payments and
    pending batches of the last BATCH_DUPLICATE_DAYS. The checks are disjoint (each skips
    rows an earlier one linked), so their row counts add up to the duplicates.
    """
    since = (now or timezone.now()) - timedelta(days=settings.BATCH_DUPLICATE_DAYS)
    params: dict[str, Any] = {
        "batch": batch.pk,
        "merchant": batch.merchant_id,
        "since": since,
        "duplicate": BatchItem.FLAG_DUPLICATE,
    }
    pending = (
        Batch.objects.filter(
            merchant_id=batch.merchant_id,
            created_at__gte=since,
            status__in=[
                Batch.Status.AWAITING_APPROVAL,
                Batch.Status.APPROVED,
                Batch.Status.SCHEDULED,
                Batch.Status.EXECUTING,
            ],
        )
        .exclude(pk=batch.pk)
        .exists()
    )
    duplicates = 0
    with connection.cursor() as cursor:
        cursor.execute(
            'UPDATE batches_batchitem SET flags = flags | %s WHERE batch_id = %s AND "row" = ANY(%s)',
            [BatchItem.FLAG_LARGEST, batch.pk, largest_rows],
        )
        by_payment_ref, by_payment_e2e, by_batch_ref, by_batch_e2e = DUPLICATE_SQL
        # The rows were inserted in this transaction, so the planner has no statistics
        # on them and would pick nested loops over 100,000 rows: hash joins it is.
        cursor.execute("SET LOCAL enable_nestloop = off")
        for statement in [
            by_payment_ref,
            by_payment_e2e,
            *([by_batch_ref, by_batch_e2e] if pending else []),
        ]:
            cursor.execute(statement, params)
            duplicates += cursor.rowcount
        cursor.execute("SET LOCAL enable_nestloop = on")
    return {
        "new_payee": new_payees,
        "largest": len(largest_rows),
        "duplicate": duplicates,
    }
