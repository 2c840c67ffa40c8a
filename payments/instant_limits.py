"""Enforcing an account's instant limits (set in accounts/ledger/limits.py) where money
moves: an API payment, a transfer to another bank, a batch row. Above a limit the payment is
refused with AM14 and nothing moves.

Per payment: the amount may not pass `instant_limit_per_payment`. Per day: the account's
outbound payments of the day (the hub's TIME_ZONE), authorized, pending or completed
(refunded ones too: they went out), with this one, may not pass `instant_limit_per_day`. It
is counted under the debtor account's row lock that every posting takes, so two payments
that race cannot both fit under the same room. An authorization counts when it is made (the
hold is the payment's instruction); its capture, at most the authorized amount, needs no
second check.
"""

from __future__ import annotations

from datetime import datetime, time, timedelta
from uuid import UUID

from django.db.models import Case, F, Q, Sum, When
from django.utils import timezone

from accounts.ledger import money
from accounts.ledger.errors import LedgerError
from accounts.models import Account
from payments.models import Payment

REASON = "amount above the agreed instant limit"
# What went out (or is on its way): a failed, voided or expired payment moved nothing.
COUNTED = (
    Payment.Status.AUTHORIZED,
    Payment.Status.PENDING,
    Payment.Status.COMPLETED,
    Payment.Status.PARTIALLY_REFUNDED,
    Payment.Status.REFUNDED,
    Payment.Status.RETURNED,
)
STILL_HELD = (Payment.Status.AUTHORIZED, Payment.Status.PENDING)


class InstantLimitExceeded(LedgerError):
    """The amount is above the agreed instant limit."""

    # The payment's failure_code and the row's error_code: the ISO reason itself (CONTRACT).
    code = "AM14"
    reason_code = "AM14"
    status = 409


def day_window(now: datetime | None = None) -> tuple[datetime, datetime]:
    """The hub's calendar day of `now` (settings.TIME_ZONE), as [start, end)."""
    day = timezone.localdate(now or timezone.now())
    start = datetime.combine(day, time.min, timezone.get_current_timezone())
    return start, start + timedelta(days=1)


def day_used(account: Account, *, now: datetime | None = None, exclude: Q | None = None) -> int:
    """What the account sent out today, in minor units (through the merchant's newest-first
    index: the merchant's payments of one day)."""
    start, end = day_window(now)
    payments = Payment.objects.filter(
        Q(merchant_id=account.merchant_id) if account.merchant_id else Q(),
        debtor_account_id=account.pk,
        created_at__gte=start,
        created_at__lt=end,
        status__in=COUNTED,
    )
    if exclude is not None:
        payments = payments.exclude(exclude)
    total = payments.aggregate(
        total=Sum(Case(When(status__in=STILL_HELD, then=F("amount")), default=F("captured_amount")))
    )["total"]
    return int(total or 0)


def _per_payment(account: Account, amount: int, currency: str) -> None:
    limit = account.instant_limit_per_payment
    if limit is not None and amount > limit:
        raise InstantLimitExceeded(
            f"{REASON}: {money.display(amount, currency)} is above the account's limit of "
            f"{money.display(limit, currency)} per payment"
        )


def _per_day(account: Account, amount: int, currency: str, used: int) -> None:
    limit = account.instant_limit_per_day
    if limit is not None and used + amount > limit:
        raise InstantLimitExceeded(
            f"{REASON}: with {money.display(used, currency)} already sent today, "
            f"{money.display(amount, currency)} passes the account's limit of "
            f"{money.display(limit, currency)} a day"
        )


def check(account: Account, amount: int, *, now: datetime | None = None) -> None:
    """Raise InstantLimitExceeded for a payment of `amount` from `account`, which the caller
    has locked (posting.lock_accounts) and whose payment is not written yet."""
    _per_payment(account, amount, account.currency)
    if account.instant_limit_per_day is not None:
        _per_day(account, amount, account.currency, day_used(account, now=now))


class DayBudget:
    """The limits of a chunk of batch rows, checked one row at a time under the chunk's
    locks (posting.transfer_many's `check`): each accepted row uses its debtor's room.

    `exclude`: the chunk's own payments, written as completed before the locks were taken.
    """

    def __init__(self, *, exclude: Q | None = None, now: datetime | None = None) -> None:
        self.exclude = exclude
        self.now = now
        self.used: dict[UUID, int] = {}

    def check(self, debtor: Account, amount: int, currency: str) -> None:
        if debtor.instant_limit_per_payment is None and debtor.instant_limit_per_day is None:
            return
        _per_payment(debtor, amount, currency)
        if debtor.instant_limit_per_day is None:
            return
        if debtor.pk not in self.used:
            self.used[debtor.pk] = day_used(debtor, now=self.now, exclude=self.exclude)
        _per_day(debtor, amount, currency, self.used[debtor.pk])
        self.used[debtor.pk] += amount


class PerPaymentLimits:
    """Batch validation's question, a debtor account at a time (one query each): is this
    row above the account's limit per payment? The per-day limit waits for execution."""

    def __init__(self) -> None:
        self.limits: dict[UUID, int | None] = {}

    def problem(self, debtor_id: UUID, amount: int | None, currency: str) -> tuple[str, str] | None:
        """("AM14", why) for a row above the limit, else None."""
        if amount is None:
            return None
        if debtor_id not in self.limits:
            self.limits[debtor_id] = (
                Account.objects.filter(pk=debtor_id)
                .values_list("instant_limit_per_payment", flat=True)
                .first()
            )
        limit = self.limits[debtor_id]
        if limit is not None and amount > limit:
            return "AM14", (
                f"{REASON}: {money.display(amount, currency)} is above the debtor account's "
                f"limit of {money.display(limit, currency)} per payment"
            )
        return None
