"""The payments a batch's execution makes, a chunk of rows at a time: written in bulk, then
posted through `posting.transfer_many` under one lock statement (docs/architecture.md)."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from uuid import UUID

from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from psycopg.types.json import Jsonb

from accounts.ledger import posting
from accounts.ledger.errors import LedgerError
from accounts.models import Merchant
from common.db import bulk
from payments import instant_limits
from payments.models import Payment


@dataclass(frozen=True)
class BatchPaymentOrder:
    batch_row: int
    debtor_id: UUID
    creditor_id: UUID
    amount: int
    currency: str
    reference: str = ""
    end_to_end_id: str = ""
    payment_id: UUID | None = None  # the payment's id, when the caller needs it beforehand
    debtor_address: dict | None = None  # iso20022.addresses dicts, kept on the payment
    creditor_address: dict | None = None


PAYMENT_COLUMNS = [
    "id",
    "merchant_id",
    "debtor_account_id",
    "creditor_account_id",
    "amount",
    "currency",
    "captured_amount",
    "refunded_amount",
    "status",
    "reference",
    "end_to_end_id",
    "authorization_code",
    "failure_code",
    "failure_message",
    "ledger_transaction_id",
    "batch_id",
    "batch_row",
    "created_at",
    "updated_at",
    "debtor_address",
    "creditor_address",
]


def _jsonb(value: dict | None) -> Jsonb | None:
    return None if value is None else Jsonb(value)


@transaction.atomic
def payments_create_for_batch(
    *,
    merchant: Merchant,
    batch_id: UUID,
    orders: list[BatchPaymentOrder],
    holds: dict[UUID, int] | None = None,
    on_locked: Callable[[], object] | None = None,
) -> list[tuple[UUID, LedgerError | None]]:
    """Pay many rows of a batch at once through `ledger.transfer_many`.

    Each row becomes a completed payment or a failed one carrying the refusal;
    (batch_id, batch_row) is unique, so a row can never be paid twice. Returns
    (payment id, refusal or None) per order. No per-payment webhook: the batch
    sends `batch.completed` when it ends. `holds` (debtor account -> hold id) pays
    from the funds reserved at approval.

    The payments are written first, as completed, with ledger transaction ids reserved
    beforehand; only then are the accounts locked (`on_locked` is called) and the
    transfers posted, and the few refused rows' payments turned failed: the accounts'
    locks are not held while the payments are written. All in the caller's transaction.
    """
    payment_ids = [order.payment_id or uuid.uuid4() for order in orders]
    transaction_ids = posting.reserve_transaction_ids(len(orders))
    now = timezone.now()
    bulk.insert(
        Payment,
        PAYMENT_COLUMNS,
        [
            (
                payment_id,
                merchant.pk,
                order.debtor_id,
                order.creditor_id,
                order.amount,
                order.currency,
                order.amount,
                0,
                Payment.Status.COMPLETED,
                order.reference[:140],
                order.end_to_end_id[:35],
                "",  # no authorization step for a batch row: it is paid or refused at once
                "",
                "",
                transaction_id,
                batch_id,
                order.batch_row,
                now,
                now,
                _jsonb(order.debtor_address),
                _jsonb(order.creditor_address),
            )
            for payment_id, transaction_id, order in zip(
                payment_ids, transaction_ids, orders, strict=True
            )
        ],
    )
    outcomes = posting.transfer_many(
        [
            posting.TransferOrder(
                debtor_id=order.debtor_id,
                creditor_id=order.creditor_id,
                amount=order.amount,
                currency=order.currency,
                reference=order.reference,
                description=f"batch {batch_id} row {order.batch_row}",
            )
            for order in orders
        ],
        holds=holds,
        transaction_ids=transaction_ids,
        on_locked=on_locked,
        # Instant limits (AM14), the day counted without this chunk's payments written above.
        check=instant_limits.DayBudget(
            exclude=Q(
                batch_id=batch_id, batch_row__gte=min((o.batch_row for o in orders), default=0)
            )
        ).check,
    )
    results: list[tuple[UUID, LedgerError | None]] = []
    refused_rows = []
    for payment_id, outcome in zip(payment_ids, outcomes, strict=True):
        refused = outcome if isinstance(outcome, LedgerError) else None
        results.append((payment_id, refused))
        if refused is not None:
            refused_rows.append(
                (payment_id, 0, Payment.Status.FAILED, refused.code, refused.detail[:255], None)
            )
    bulk.update(
        Payment,
        ["captured_amount", "status", "failure_code", "failure_message", "ledger_transaction"],
        refused_rows,
    )
    return results
