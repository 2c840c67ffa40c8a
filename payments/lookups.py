"""Reads of the payments table that other apps' bulk work needs, written here so that only
this app knows its table: which (debtor, creditor) pairs were paid before, and the recent
payments a batch's rows may repeat (a subquery the batch's set-based statements join)."""

from __future__ import annotations

from uuid import UUID

from common.db import pgsql

PAID_STATUSES = ("completed", "refunded", "partially_refunded")

# The merchant's payments since a moment, not failed: what a new batch row may repeat.
# Parameters %(merchant)s and %(since)s; columns id, creditor_account_id, amount,
# reference, end_to_end_id, created_at. Inlined by the planner where it is joined.
RECENT_PAYMENTS_SQL = """
    SELECT p.id, p.creditor_account_id, p.amount, p.reference, p.end_to_end_id, p.created_at
      FROM payments_payment AS p
     WHERE p.merchant_id = %(merchant)s AND p.created_at >= %(since)s AND p.status <> 'failed'
"""


def paid_pairs(pairs: list[tuple[UUID, UUID]]) -> list[tuple[UUID, UUID]]:
    """Those of the (debtor account, creditor account) pairs that a payment has paid."""
    if not pairs:
        return []
    # A probe of the (debtor, creditor) index per pair, whatever the statistics say.
    rows = pgsql.execute(
        "SELECT k.debtor, k.creditor FROM unnest(%s::uuid[], %s::uuid[]) AS k(debtor, creditor)"
        " WHERE EXISTS (SELECT 1 FROM payments_payment AS p"
        "  WHERE p.debtor_account_id = k.debtor AND p.creditor_account_id = k.creditor"
        "    AND p.status = ANY(%s))",
        [[debtor for debtor, _ in pairs], [creditor for _, creditor in pairs], list(PAID_STATUSES)],
    )
    return [(debtor, creditor) for debtor, creditor in rows]
