"""Read queries of batches: lists, totals, what waits for whom."""

from __future__ import annotations

from django.conf import settings
from django.db.models import Q, QuerySet, Sum

from accounts import money
from accounts.models import Merchant, User
from batches.models import Approval, Batch, BatchItem

COUNTED = [BatchItem.Status.VALID, BatchItem.Status.PAID, BatchItem.Status.FAILED]


def batches_of_merchant(*, merchant: Merchant) -> QuerySet[Batch]:
    return (
        Batch.objects.filter(merchant=merchant)
        .select_related("debtor_account")
        .prefetch_related("approvals__approver")
    )


def totals_by_currency(batch: Batch) -> dict[str, int]:
    """The valid rows' total per currency (what an approver signs off)."""
    return dict(
        batch.items.filter(status__in=COUNTED)
        .values_list("currency")
        .annotate(total=Sum("amount"))
        .order_by()
    )


def totals_by_debtor(batch: Batch) -> list[dict]:
    """Per debtor account: rows and amount, for files with several PmtInf blocks."""
    return list(
        batch.items.filter(status__in=COUNTED)
        .values("debtor_account__number", "currency")
        .annotate(total=Sum("amount"))
        .order_by("debtor_account__number")
    )


def approvals_required(batch: Batch) -> int:
    """Two distinct approvers above BATCH_SECOND_APPROVAL_ABOVE (major units), else one."""
    if batch.currency:
        totals = {batch.currency: batch.total_amount}
    else:
        totals = totals_by_currency(batch)
    threshold = settings.BATCH_SECOND_APPROVAL_ABOVE
    return 2 if any(money.to_decimal(t, c) > threshold for c, t in totals.items() if t) else 1


def waiting_for(*, user: User) -> QuerySet[Batch]:
    """Batches awaiting approval that this user may still approve (not theirs, not yet approved)."""
    decided = Approval.objects.filter(approver=user).values("batch_id")
    return (
        Batch.objects.filter(status=Batch.Status.AWAITING_APPROVAL)
        .exclude(Q(uploaded_by=user) | Q(pk__in=decided))
        .select_related("merchant")
        .order_by("created_at")
    )
