"""The operator dashboard's figures of payments: a day's volumes and success rates by
currency, the recent failures, the currencies by activity and the daily series of the chart."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal

from django.db.models import Count, Q, Sum
from django.db.models.functions import TruncDate
from django.utils import timezone

from common.db.routing import replica_alias
from payments.models import Payment
from payments.selectors import day_bounds

# A payment is finished once nothing more can happen to it but a refund.
SUCCEEDED_STATUSES = (
    Payment.Status.COMPLETED,
    Payment.Status.REFUNDED,
    Payment.Status.PARTIALLY_REFUNDED,
)
FINISHED_STATUSES = (*SUCCEEDED_STATUSES, Payment.Status.FAILED)


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
    # A report: the standby's copy will do (common.db.routing).
    today = (
        Payment.objects.using(replica_alias())
        .filter(created_at__gte=start, created_at__lt=end)
        .order_by()
    )
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
        Payment.objects.using(replica_alias())
        .filter(created_at__gte=start, created_at__lt=end)
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
        Payment.objects.using(replica_alias())
        .filter(currency=currency, created_at__gte=start, created_at__lt=end)
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
