"""Verification of Payee of a batch's rows, at validation (compliance/vop/).

After the rows are stored, each distinct (creditor account, name) of the batch is verified
once, by this hub for its own accounts and by the peer serving an IBAN of another bank
(concurrently, within a bound and a deadline: compliance.vop.requester); the rows take their
result in one UPDATE, and the payable ones whose payee's name is a close match or no match
are flagged FLAG_VOP_MISMATCH: an approver signs over them only by confirming so
(decisions.py). Rows without a name, and unreadable rows (FF01), are not verified. A merchant
that opted out of verification for batches gets none: the batch says so (`vop_opted_out`).
"""

from __future__ import annotations

import json
from uuid import UUID

from django.db import connection
from django.db.models import F

from batches.models import Batch, BatchItem
from compliance.vop import requester
from compliance.vop.protocol import MISMATCHES

PAYABLE = (BatchItem.Status.VALID, BatchItem.Status.PENDING)

_UPDATE = """
UPDATE batches_batchitem AS item
   SET verification = v.verification,
       flags = CASE WHEN v.verification->>'result' = ANY(%(mismatches)s)
                     AND item.status = ANY(%(payable)s)
                    THEN item.flags | %(bit)s ELSE item.flags END
  FROM unnest(%(numbers)s::text[], %(names)s::text[], %(verifications)s::jsonb[])
       AS v(number, name, verification)
 WHERE item.batch_id = %(batch)s
   AND item.creditor_account_number = v.number
   AND item.creditor_name = v.name
"""


def verify_rows(batch: Batch) -> dict[str, int]:
    """Verify the batch's payees and flag the rows to confirm; the flag's count, for
    `flag_counts` (left out when none, as the page shows 0). Sets `batch.vop_opted_out`
    (the caller saves the batch)."""
    batch.vop_opted_out = batch.merchant.vop_batch_opt_out
    if batch.vop_opted_out:
        return {}
    pairs = (
        BatchItem.objects.filter(batch=batch)
        .exclude(creditor_name="")
        .exclude(error_code="FF01")
        .values_list("creditor_account_number", "creditor_name")
        .distinct()
    )
    results = requester.verify_many(list(pairs), merchant=batch.merchant, purpose="batch")
    if not results:
        return {}
    pairs_done = sorted(results)
    with connection.cursor() as cursor:
        cursor.execute(
            _UPDATE,
            {
                "mismatches": list(MISMATCHES),
                "payable": list(PAYABLE),
                "bit": BatchItem.FLAG_VOP_MISMATCH,
                "numbers": [number for number, _ in pairs_done],
                "names": [name for _, name in pairs_done],
                "verifications": [json.dumps(results[pair].as_json()) for pair in pairs_done],
                "batch": batch.pk,
            },
        )
    count = mismatches(batch)
    return {"vop_mismatch": count} if count else {}


def mismatches(batch: Batch) -> int:
    """The payable rows whose payee is a close match or no match: what an approval confirms."""
    return (
        BatchItem.objects.filter(batch=batch, status__in=PAYABLE)
        .annotate(vop_bit=F("flags").bitand(BatchItem.FLAG_VOP_MISMATCH))
        .filter(vop_bit__gt=0)
        .count()
    )


_COPY = """
UPDATE payments_payment AS payment
   SET verification = item.verification
  FROM batches_batchitem AS item
 WHERE item.batch_id = %s AND item.payment_id = payment.id
   AND payment.id = ANY(%s) AND item.verification IS NOT NULL
"""


def copy_to_payments(*, batch_id: UUID, payment_ids: list[UUID]) -> None:
    """The rows' results onto the payments a chunk of execution just made: the result
    travels with the payment (its JSON), as an API payment's does."""
    with connection.cursor() as cursor:
        cursor.execute(_COPY, [batch_id, payment_ids])
