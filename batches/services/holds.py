"""The batch's total held on its debtor accounts at the last approval, released at its end."""

from __future__ import annotations

from typing import cast
from uuid import UUID

from django.db.models import Sum

from accounts.ledger import money, posting
from accounts.ledger.errors import (
    LedgerError,
)
from accounts.models import Account, Hold
from batches.models import Batch, BatchHold, BatchItem
from batches.services.base import FundsShort


def reserve_funds(batch: Batch) -> list[BatchHold]:
    """Hold each debtor account's share of the valid rows, or refuse them all (AM04).

    One hold per debtor account, placed in ascending account order like every lock of
    the ledger's; a shortfall on any account rolls back the others with the approval.
    """
    shares = (
        batch.items.filter(status=BatchItem.Status.VALID)
        .values_list("debtor_account_id", "currency")
        .annotate(total=Sum("amount"))
        .order_by()
    )
    per_account: dict[UUID, tuple[str, int]] = {}
    for debtor_id, currency, total in shares:
        account_id = cast(UUID, debtor_id or batch.debtor_account_id)  # a valid row has one
        known = per_account.get(account_id, (currency, 0))
        per_account[account_id] = (currency, known[1] + total)
    reserved = []
    for account_id in sorted(per_account):
        currency, total = per_account[account_id]
        try:
            hold = posting.place_hold(
                account_id=account_id,
                amount=total,
                currency=currency,
                reference=f"batch {batch.pk}",
            )
        except LedgerError as refusal:
            number = Account.objects.filter(pk=account_id).values_list("number", flat=True).first()
            short = FundsShort(
                f"{refusal.reason_code}: the batch's {money.to_major(total, currency)} {currency} "
                f"cannot be held on account {number} ({refusal.detail}); the batch waits"
            )
            short.reason_code = refusal.reason_code  # AM04, or AC06 for a frozen account
            raise short from refusal
        reserved.append(BatchHold.objects.create(batch=batch, hold=hold))
    return reserved


def release_holds(batch: Batch) -> None:
    """Give back what the batch still holds (its end, a rejection, a cancellation)."""
    for hold_id in (
        BatchHold.objects.filter(batch=batch, hold__status=Hold.Status.ACTIVE)
        .order_by("hold__account_id")
        .values_list("hold_id", flat=True)
    ):
        posting.release_hold(hold_id=hold_id)
