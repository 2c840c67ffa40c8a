"""Read queries of payments: what a merchant may see, account look-ups by number, and the
operator dashboard's search and figures (volumes, success rates, daily series).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import ROUND_CEILING, ROUND_FLOOR, ROUND_HALF_UP, Decimal
from uuid import UUID

from django.db.models import Count, Prefetch, Q, QuerySet, Sum
from django.db.models.functions import TruncDate
from django.utils import timezone

from accounts.ledger import currency as iso4217
from accounts.ledger import pgsql
from accounts.models import Account, LedgerEntry, LedgerTransaction, Merchant
from payments.models import Payment, WebhookAttempt, WebhookDelivery


def accounts_by_number(*, numbers: list[str]) -> dict[str, Account]:
    """Accounts by number, in one query; numbers not found are absent."""
    # On every payment request: a prepared statement, rows made without the ORM's compiler.
    rows = pgsql.execute(
        f"SELECT {pgsql.columns(Account)} FROM accounts_account WHERE number = ANY(%s)",
        [list(numbers)],
    )
    return {account.number: account for account in (pgsql.from_row(Account, r) for r in rows)}


def payments_of_merchant(*, merchant: Merchant) -> QuerySet[Payment]:
    return Payment.objects.filter(merchant=merchant).select_related(
        "debtor_account", "creditor_account"
    )


def webhooks_of_merchant(*, merchant: Merchant) -> QuerySet[WebhookDelivery]:
    return WebhookDelivery.objects.filter(merchant=merchant)


# --- The operator dashboard ---------------------------------------------------------------

# A payment is finished once nothing more can happen to it but a refund.
SUCCEEDED_STATUSES = (
    Payment.Status.COMPLETED,
    Payment.Status.REFUNDED,
    Payment.Status.PARTIALLY_REFUNDED,
)
FINISHED_STATUSES = (*SUCCEEDED_STATUSES, Payment.Status.FAILED)


def day_bounds(first: date, last: date | None = None) -> tuple[datetime, datetime]:
    """[start of `first`, start of the day after `last`) in the current time zone (TIME_ZONE)."""
    zone = timezone.get_current_timezone()
    last = last or first
    start = datetime.combine(first, time.min, tzinfo=zone)
    end = datetime.combine(last + timedelta(days=1), time.min, tzinfo=zone)
    return start, end


def _rate(part: int, whole: int) -> Decimal | None:
    """`part / whole` as a percentage with one decimal, None when there is nothing to divide."""
    if not whole:
        return None
    return (Decimal(part) * 100 / Decimal(whole)).quantize(Decimal("0.1"), ROUND_HALF_UP)


@dataclass(frozen=True)
class CurrencyVolume:
    currency: str
    count: int
    amount: int  # minor units


@dataclass(frozen=True)
class DaySummary:
    day: date
    volumes: list[CurrencyVolume]  # every payment created that day, any status
    succeeded: int
    failed: int

    @property
    def finished(self) -> int:
        return self.succeeded + self.failed

    @property
    def success_rate(self) -> Decimal | None:
        """Succeeded (completed, refunded, partially refunded) over finished, in per cent."""
        return _rate(self.succeeded, self.finished)


def payments_day_summary(*, day: date) -> DaySummary:
    """Count and amount per currency of the payments created on `day`, and the success rate."""
    start, end = day_bounds(day)
    today = Payment.objects.filter(created_at__gte=start, created_at__lt=end).order_by()
    volumes = [
        CurrencyVolume(currency=row["currency"], count=row["count"], amount=row["amount"] or 0)
        for row in today.values("currency")
        .annotate(count=Count("id"), amount=Sum("amount"))
        .order_by("currency")
    ]
    outcome = today.aggregate(
        succeeded=Count("id", filter=Q(status__in=SUCCEEDED_STATUSES)),
        failed=Count("id", filter=Q(status=Payment.Status.FAILED)),
    )
    return DaySummary(
        day=day, volumes=volumes, succeeded=outcome["succeeded"], failed=outcome["failed"]
    )


def recent_failed_payments(*, limit: int = 10) -> list[Payment]:
    """The last `limit` failed payments, newest first."""
    return list(
        Payment.objects.filter(status=Payment.Status.FAILED)
        .select_related("merchant")
        .order_by("-created_at", "-id")[:limit]
    )


def currencies_by_activity(*, today: date, days: int = 30) -> list[tuple[str, int]]:
    """(currency, number of payments) over the `days` days up to `today`, busiest first."""
    start, end = day_bounds(today - timedelta(days=days - 1), today)
    rows = (
        Payment.objects.filter(created_at__gte=start, created_at__lt=end)
        .values_list("currency")
        .annotate(count=Count("id"))
        .order_by("-count", "currency")
    )
    return [(currency, count) for currency, count in rows]


@dataclass(frozen=True)
class DayPoint:
    day: date
    count: int
    amount: int  # minor units, every payment created that day
    failed: int
    finished: int

    @property
    def failure_rate(self) -> Decimal | None:
        """Failed over finished, in per cent; None on a day with no finished payment."""
        return _rate(self.failed, self.finished)


def daily_volume(*, currency: str, today: date, days: int = 30) -> list[DayPoint]:
    """One point per day (oldest first, `days` of them, ending `today`) for one currency.

    Days are calendar days of TIME_ZONE; a day without payments is a zero point.
    """
    first = today - timedelta(days=days - 1)
    start, end = day_bounds(first, today)
    rows = (
        Payment.objects.filter(currency=currency, created_at__gte=start, created_at__lt=end)
        .annotate(day=TruncDate("created_at", tzinfo=timezone.get_current_timezone()))
        .values("day")
        .annotate(
            count=Count("id"),
            amount=Sum("amount"),
            failed=Count("id", filter=Q(status=Payment.Status.FAILED)),
            finished=Count("id", filter=Q(status__in=FINISHED_STATUSES)),
        )
        .order_by("day")
    )
    by_day = {row["day"]: row for row in rows}
    points = []
    for offset in range(days):
        day = first + timedelta(days=offset)
        row = by_day.get(day)
        points.append(
            DayPoint(
                day=day,
                count=row["count"] if row else 0,
                amount=(row["amount"] or 0) if row else 0,
                failed=row["failed"] if row else 0,
                finished=row["finished"] if row else 0,
            )
        )
    return points


def _amount_range(amount_min: Decimal | None, amount_max: Decimal | None, currency: str) -> Q:
    """Payments whose amount lies in [min, max] major units.

    With a currency, the bounds are that currency's minor units. Without one,
    each group of currencies that share an exponent gets its own bounds, rounded
    inwards: 12.345 as a lower bound is 1235 cents and 13 yen.
    """
    if currency:
        exponents = {iso4217.exponent(currency): [currency]}
    else:
        exponents = {}
        for code, exponent in iso4217.EXPONENTS.items():
            exponents.setdefault(exponent, []).append(code)
    match = Q()
    for exponent, codes in sorted(exponents.items()):
        bounds = Q(currency__in=codes) if not currency else Q()
        if amount_min is not None:
            bounds &= Q(amount__gte=int(amount_min.scaleb(exponent).to_integral(ROUND_CEILING)))
        if amount_max is not None:
            bounds &= Q(amount__lte=int(amount_max.scaleb(exponent).to_integral(ROUND_FLOOR)))
        match |= bounds
    return match


def payments_search(
    *,
    reference: str = "",
    payment_id: UUID | None = None,
    account: Account | None = None,
    status: str = "",
    currency: str = "",
    amount_min: Decimal | None = None,
    amount_max: Decimal | None = None,
    created_from: date | None = None,
    created_to: date | None = None,
    batch_id: UUID | None = None,
) -> QuerySet[Payment]:
    """Every merchant's payments matching all the given filters (the hub's staff see all).

    Amounts are in major units; dates are calendar days of TIME_ZONE, both ends
    included. Unordered: the caller pages it (newest first) or exports it.
    """
    payments = Payment.objects.select_related("merchant", "debtor_account", "creditor_account")
    if payment_id is not None:
        payments = payments.filter(pk=payment_id)
    if reference:
        payments = payments.filter(reference=reference)
    if account is not None:
        payments = payments.filter(Q(debtor_account=account) | Q(creditor_account=account))
    if status:
        payments = payments.filter(status=status)
    if currency:
        payments = payments.filter(currency=currency)
    if amount_min is not None or amount_max is not None:
        payments = payments.filter(_amount_range(amount_min, amount_max, currency))
    if created_from is not None:
        payments = payments.filter(created_at__gte=day_bounds(created_from)[0])
    if created_to is not None:
        payments = payments.filter(created_at__lt=day_bounds(created_to)[1])
    if batch_id is not None:
        payments = payments.filter(batch_id=batch_id)
    return payments


def payment_for_dashboard(*, payment_id: UUID) -> Payment:
    """One payment with what its page shows; raises Payment.DoesNotExist."""
    return Payment.objects.select_related(
        "merchant",
        "debtor_account",
        "creditor_account",
        "hold",
        "ledger_transaction",
        "api_key",
    ).get(pk=payment_id)


def payment_ledger_transactions(*, payment: Payment) -> list[LedgerTransaction]:
    """The ledger transactions of a payment (its posting, then its refunds), entries loaded."""
    ids = [payment.ledger_transaction_id] if payment.ledger_transaction_id else []
    ids += list(payment.refunds.values_list("ledger_transaction_id", flat=True))
    return list(
        LedgerTransaction.objects.filter(pk__in=ids)
        .prefetch_related(
            Prefetch(
                "entries",
                queryset=LedgerEntry.objects.select_related("account").order_by("amount", "id"),
            )
        )
        .order_by("id")
    )


def payment_webhook_deliveries(*, payment: Payment, limit: int = 20) -> list[WebhookDelivery]:
    """The webhook events sent about a payment, oldest first, each with its `attempt_list`."""
    return list(
        WebhookDelivery.objects.filter(payment=payment)
        .prefetch_related(
            Prefetch(
                "attempts", queryset=WebhookAttempt.objects.order_by("at"), to_attr="attempt_list"
            )
        )
        .order_by("created_at")[:limit]
    )
