"""Read queries of batches: lists, totals, what waits for whom."""

from __future__ import annotations

from typing import cast

from django.conf import settings
from django.db.models import Count, Q, QuerySet, Sum

from accounts.identity.roles import APPROVER, has_role
from accounts.ledger import money
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
    """Per debtor account: rows and amount, for files with several PmtInf blocks.

    A row without a debtor of its own (CSV) pays from the batch's debtor account.
    """
    rows = list(
        batch.items.filter(status__in=COUNTED)
        .values("debtor_account__number", "currency")
        .annotate(total=Sum("amount"))
        .order_by("debtor_account__number")
    )
    default = batch.debtor_account.number if batch.debtor_account is not None else ""
    for row in rows:
        row["debtor_account__number"] = row["debtor_account__number"] or default
    return cast("list[dict]", rows)  # values() rows: the stubs make them TypedDicts


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


def batches_search(*, status: str = "", merchant: Merchant | None = None) -> QuerySet[Batch]:
    """The dashboard's batch list: every merchant's, with the approvals given so far."""
    batches = Batch.objects.select_related("merchant", "uploaded_by").annotate(
        approvals_given=Count("approvals", filter=Q(approvals__decision=Approval.Decision.APPROVE))
    )
    if status:
        batches = batches.filter(status=status)
    if merchant is not None:
        batches = batches.filter(merchant=merchant)
    return batches


def not_paid_items(batch: Batch, *, limit: int) -> list[BatchItem]:
    """The rows refused at validation or failed at execution, in file order, at most `limit`."""
    return list(
        batch.items.filter(status__in=[BatchItem.Status.INVALID, BatchItem.Status.FAILED])
        .select_related("debtor_account")
        .order_by("row")[:limit]
    )


def first_items(batch: Batch, *, limit: int) -> list[BatchItem]:
    """The batch's first rows in file order, with what their file said of each payment."""
    return list(batch.items.select_related("debtor_account").order_by("row")[:limit])


def may_decide(batch: Batch, user: User) -> bool:
    """Whether `user` may approve or reject `batch` now (what the services will accept)."""
    if batch.status != Batch.Status.AWAITING_APPROVAL or not user.is_authenticated:
        return False
    if not (user.is_superuser or has_role(user, APPROVER)):
        return False
    if batch.uploaded_by_id == user.pk:
        return False
    return not batch.approvals.filter(approver=user).exists()
