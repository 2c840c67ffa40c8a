"""Read queries of batches: lists, totals, what waits for whom."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import cast

from django.conf import settings
from django.db.models import CharField, Count, F, Max, Q, QuerySet, Sum
from django.db.models.functions import Cast
from django.utils import timezone

from accounts.identity import gate
from accounts.identity.models import Decision
from accounts.identity.roles import APPROVER, has_role
from accounts.ledger import currency as iso4217
from accounts.ledger import money
from accounts.models import Merchant, User
from batches import exposure
from batches.models import Approval, Batch, BatchItem

COUNTED = [BatchItem.Status.VALID, BatchItem.Status.PAID, BatchItem.Status.FAILED]


def batches_of_merchant(*, merchant: Merchant) -> QuerySet[Batch]:
    return (
        Batch.objects.filter(merchant=merchant)
        .select_related("debtor_account")
        .prefetch_related("approvals__approver")
    )


def _per_currency(batch: Batch, key: str, aggregate: type[Sum] | type[Max]) -> dict[str, int]:
    """The valid rows' `aggregate` of their amounts per currency: from the totals counted at
    validation, or from the rows for a batch validated before those were kept."""
    if batch.valid_totals:
        per_currency: dict[str, int] = {}
        combine = sum if aggregate is Sum else max
        for line in batch.valid_totals:
            currency = line["currency"]
            per_currency[currency] = combine((per_currency.get(currency, 0), line[key]))
        return per_currency
    return dict(
        batch.items.filter(status__in=COUNTED)
        .values_list("currency")
        .annotate(value=aggregate("amount"))
        .order_by()
    )


def totals_by_currency(batch: Batch) -> dict[str, int]:
    """The valid rows' total per currency (what an approver signs off)."""
    return _per_currency(batch, "total", Sum)


def totals_by_debtor(batch: Batch) -> list[dict]:
    """Per debtor account: rows and amount, for files with several PmtInf blocks.

    A row without a debtor of its own (CSV) pays from the batch's debtor account.
    """
    if batch.valid_totals:
        return [
            {
                "debtor_account__number": line["debtor"],
                "currency": line["currency"],
                "total": line["total"],
            }
            for line in sorted(
                batch.valid_totals, key=lambda line: (line["debtor"], line["currency"])
            )
        ]
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


def _grouped(minor: int, currency: str) -> str:
    return f"{money.to_decimal(minor, currency):,f} {currency}"


def _limit(value: Decimal | int, currency: str) -> str:
    value = Decimal(str(value))
    exponent = Decimal(1).scaleb(-iso4217.exponent(currency)) if currency else Decimal("0.01")
    return f"{value.quantize(exponent):,f} {currency}".rstrip()


def approval_rule(batch: Batch) -> tuple[int, str]:
    """How many approvers the batch needs, and why, in words for the batch page.

    Two when the day's exposure passes a limit (batches/exposure.py): the total from a
    debtor account on the batch's day, this batch and the merchant's other batches of that
    day together, above the merchant's `second_approval_above`; or what one payee receives
    from it that day above `second_approval_row_above` (empty: BATCH_SECOND_APPROVAL_ABOVE
    and BATCH_SECOND_APPROVAL_ROW_ABOVE). Else one.
    """
    merchant = batch.merchant
    total_limit = merchant.second_approval_above
    if total_limit is None:
        total_limit = settings.BATCH_SECOND_APPROVAL_ABOVE
    row_limit = merchant.second_approval_row_above
    if row_limit is None:
        row_limit = settings.BATCH_SECOND_APPROVAL_ROW_ABOVE
    lines = exposure.exposures(batch)
    for line in lines:
        if line.total and money.to_decimal(line.total, line.currency) > total_limit:
            if line.total == line.this_batch:
                why = f"the total {_grouped(line.total, line.currency)} is above"
            else:
                why = (
                    f"the day's total from {line.debtor}, {_grouped(line.total, line.currency)}"
                    f" with {line.other_batches} other batch(es) of the day, is above"
                )
            return 2, f"needs 2 approvers: {why} {_limit(total_limit, line.currency)}"
    for line in lines:
        if line.largest_payee and money.to_decimal(line.largest_payee, line.currency) > row_limit:
            return 2, (
                f"needs 2 approvers: one payee receives {_grouped(line.largest_payee, line.currency)}"
                f" from {line.debtor} on the batch's day, above {_limit(row_limit, line.currency)}"
            )
    currency = batch.currency or ""
    return 1, (
        f"needs 1 approver: the day's total is not above {_limit(total_limit, currency)} "
        f"and no payee receives more than {_limit(row_limit, currency)}"
    )


def _largest_by_currency(batch: Batch) -> dict[str, int]:
    return _per_currency(batch, "largest", Max)


def approvals_required(batch: Batch) -> int:
    return approval_rule(batch)[0]


def waiting_for(*, user: User) -> QuerySet[Batch]:
    """Batches awaiting approval that this user may still approve (not theirs, not yet approved)."""
    decided = Decision.objects.filter(kind="batch", person_id=user.person_id or 0).values(
        "subject_id"
    )
    mine = Q(uploaded_by__person_id=user.person_id) | Q(api_key__created_by_id=user.person_id)
    return (
        Batch.objects.filter(status=Batch.Status.AWAITING_APPROVAL)
        .exclude(
            Q(uploaded_by=user)
            | Q(pk__in=Approval.objects.filter(approver=user).values("batch_id"))
        )
        .exclude(mine if user.person_id else Q(pk__in=[]))
        # Decisions name their subject as text (str of the batch's id): compared as text, in
        # the database, without reading the person's decided ids into Python.
        .annotate(id_text=Cast("id", output_field=CharField()))
        .exclude(id_text__in=decided)
        .select_related("merchant")
        .order_by("created_at")
    )


def batches_search(
    *,
    status: str = "",
    merchant: Merchant | None = None,
    file_name: str = "",
    uploaded_from: date | None = None,
    uploaded_to: date | None = None,
) -> QuerySet[Batch]:
    """The dashboard's batch list: every merchant's, with the approvals given so far.

    `file_name` is any part of the file's name (any case) or its exact MsgId; the dates
    are days of TIME_ZONE, both included (a range on the indexed upload time).
    """
    batches = Batch.objects.select_related("merchant", "uploaded_by").annotate(
        approvals_given=Count("approvals", filter=Q(approvals__decision=Approval.Decision.APPROVE))
    )
    if status:
        batches = batches.filter(status=status)
    if merchant is not None:
        batches = batches.filter(merchant=merchant)
    if file_name:
        batches = batches.filter(Q(file_name__icontains=file_name) | Q(message_id=file_name))
    zone = timezone.get_current_timezone()
    if uploaded_from is not None:
        batches = batches.filter(created_at__gte=datetime.combine(uploaded_from, time.min, zone))
    if uploaded_to is not None:
        next_day = uploaded_to + timedelta(days=1)
        batches = batches.filter(created_at__lt=datetime.combine(next_day, time.min, zone))
    return batches


def not_paid_items(batch: Batch, *, limit: int) -> list[BatchItem]:
    """The rows refused at validation or failed at execution, in file order, at most `limit`."""
    if not batch.invalid_count and not batch.failed_count:
        return []
    return list(
        batch.items.filter(status__in=[BatchItem.Status.INVALID, BatchItem.Status.FAILED])
        .select_related("debtor_account")
        .order_by("row")[:limit]
    )


def approval_barred_until(user: User) -> datetime | None:
    """Until when a recent reset or role grant bars `user` from deciding, if it does now."""
    barred = user.approval_barred_until
    return barred if barred is not None and barred > timezone.now() else None


def initiators(batch: Batch) -> set[int]:
    """The persons who initiated the batch, through any channel: whoever uploaded it on the
    dashboard, and whoever created the API key it came through."""
    persons = set()
    if batch.uploaded_by_id is not None:
        person = gate.person_of(batch.uploaded_by)
        if person is not None:
            persons.add(person.pk)
    if batch.api_key_id is not None and batch.api_key is not None:
        if batch.api_key.created_by_id is not None:
            persons.add(batch.api_key.created_by_id)
    return persons


def may_decide(batch: Batch, user: User) -> bool:
    """Whether `user` may approve or reject `batch` now (what the gate will accept)."""
    if batch.status != Batch.Status.AWAITING_APPROVAL or not user.is_authenticated:
        return False
    if gate.refusal(user=user, role=APPROVER, initiators=initiators(batch)):
        return False
    return not Decision.objects.filter(
        kind="batch", subject_id=str(batch.pk), person_id=user.person_id or 0
    ).exists()


ROW_FLAGS = {
    "new_payee": BatchItem.FLAG_NEW_PAYEE,
    "largest": BatchItem.FLAG_LARGEST,
    "duplicate": BatchItem.FLAG_DUPLICATE,
    "sanctions": BatchItem.FLAG_SANCTIONS,
    "vop_mismatch": BatchItem.FLAG_VOP_MISMATCH,
}
ROW_ORDERINGS = {
    "row": ("row",),
    "amount": ("amount", "row"),
    "-amount": ("-amount", "-row"),
}


def batch_rows(batch: Batch, *, search: str = "", flag: str = "") -> QuerySet[BatchItem]:
    """The rows that are (or were) to be paid, for the approver: searchable, by flag.

    Filtered within one batch (the unique (batch, row) index), so a search or a sort
    reads that batch's rows only, however many batches the table holds.
    """
    rows = batch.items.filter(status__in=COUNTED).select_related(
        "creditor_account", "debtor_account"
    )
    if flag in ROW_FLAGS:
        rows = rows.annotate(flag_bit=F("flags").bitand(ROW_FLAGS[flag])).filter(flag_bit__gt=0)
    search = search.strip()
    if search:
        rows = rows.filter(
            Q(creditor_account_number__icontains=search)
            | Q(creditor_name__icontains=search)
            | Q(reference__icontains=search)
            | Q(end_to_end_id__icontains=search)
        )
    return rows


WAITING_SHOWN = 20


def batches_waiting(user: User) -> list[Batch] | None:
    """The home page's "waiting for your approval", or None for a user who never approves."""
    if not has_role(user, APPROVER):
        return None
    batches: list[Batch] = list(
        waiting_for(user=user)
        .select_related("uploaded_by")
        .annotate(
            approvals_given=Count(
                "approvals", filter=Q(approvals__decision=Approval.Decision.APPROVE)
            )
        )[:WAITING_SHOWN]
    )
    for batch in batches:
        # An attribute for the template only.
        batch.approvals_needed = approvals_required(batch)  # type: ignore[attr-defined]
    return batches


def external_payees() -> Iterator[tuple[str, str]]:
    """(account number, name) of every payee at another bank that a batch row named once,
    for sanctions screening (settings.SANCTIONS_PAYEE_SOURCES)."""
    rows = (
        BatchItem.objects.filter(creditor_account__isnull=True)
        .exclude(creditor_name="")
        .exclude(creditor_account_number="")
        .values_list("creditor_account_number", "creditor_name")
        .distinct()
        .order_by()
    )
    yield from rows.iterator(chunk_size=10_000)
