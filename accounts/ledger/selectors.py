"""Read queries of accounts and the ledger, including the ledger's self-check and the
operator dashboard's balances and account search.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any
from uuid import UUID

from django.db.models import Count, F, Q, QuerySet, Sum
from django.utils import timezone

from accounts.ledger.models import Account, Hold, LedgerEntry, LedgerTransaction, Merchant


def accounts_of_merchant(*, merchant: Merchant) -> QuerySet[Account]:
    """The merchant's own customer accounts: a system account is never a merchant's to read."""
    return Account.objects.filter(merchant=merchant, kind=Account.Kind.CUSTOMER).order_by("number")


def account_entries(*, account: Account) -> QuerySet[LedgerEntry]:
    """The account's statement, newest first."""
    return LedgerEntry.objects.filter(account=account).select_related("transaction").order_by("-id")


# --- statements: a period's entries and the booked balances at its edges ----------------------

MAX_DAYS = 366


@dataclass(frozen=True)
class Period:
    first_day: date
    last_day: date

    @property
    def start(self) -> datetime:
        return timezone.make_aware(datetime.combine(self.first_day, time.min))

    @property
    def end(self) -> datetime:  # exclusive
        return timezone.make_aware(datetime.combine(self.last_day + timedelta(days=1), time.min))


class PeriodError(ValueError):
    pass


def period(first_day: date, last_day: date) -> Period:
    if last_day < first_day:
        raise PeriodError("the period ends before it starts")
    if (last_day - first_day).days >= MAX_DAYS:
        raise PeriodError(f"a statement covers at most {MAX_DAYS} days")
    return Period(first_day, last_day)


@dataclass(frozen=True)
class Balances:
    opening_booked: int  # the ledger's balance at the period's start
    closing_booked: int  # ... at its end (or now, for a period that has not ended)
    closing_available: int  # closing booked less what is held, known for now only
    available_is_current: bool  # False: holds of the past are not kept, so = closing booked


def balances(account: Account, span: Period, *, now: datetime | None = None) -> Balances:
    """The ledger's own figures: each entry keeps the balance it left (balance_after)."""
    now = now or timezone.now()
    entries = LedgerEntry.objects.filter(account=account).order_by("-id")
    before = entries.filter(created_at__lt=span.start).values_list("balance_after", flat=True)
    opening = next(iter(before[:1]), 0)
    until = entries.filter(created_at__lt=span.end).values_list("balance_after", flat=True)
    closing = next(iter(until[:1]), opening)
    current = span.end > now
    return Balances(
        opening_booked=opening,
        closing_booked=closing,
        closing_available=closing - account.held if current else closing,
        available_is_current=current,
    )


def period_entries(*, account: Account, span: Period) -> QuerySet[LedgerEntry]:
    """The account's entries booked in the period, newest first."""
    return account_entries(account=account).filter(
        created_at__gte=span.start, created_at__lt=span.end
    )


@dataclass(frozen=True)
class CurrencyBalances:
    """The customer accounts of one currency, added up (minor units)."""

    currency: str
    accounts: int
    balance: int
    held: int

    @property
    def available(self) -> int:
        return self.balance - self.held


def customer_balances_by_currency() -> list[CurrencyBalances]:
    """Balance, held and available summed over the customer accounts, per currency.

    System accounts (the funding accounts) are left out: their balance is the
    mirror image of the money that entered the hub.
    """
    rows = (
        Account.objects.filter(kind=Account.Kind.CUSTOMER)
        .values("currency")
        .annotate(accounts=Count("id"), balance=Sum("balance"), held=Sum("held"))
        .order_by("currency")
    )
    return [
        CurrencyBalances(
            currency=row["currency"],
            accounts=row["accounts"],
            balance=row["balance"] or 0,
            held=row["held"] or 0,
        )
        for row in rows
    ]


def accounts_search(
    *,
    query: str = "",
    currency: str = "",
    status: str = "",
    kind: str = "",
    merchant_id: UUID | None = None,
) -> QuerySet[Account]:
    """Accounts matching every given filter; `query` is a number (or its start) or a name part."""
    accounts = Account.objects.select_related("merchant")
    query = query.strip()
    if query:
        accounts = accounts.filter(Q(number__istartswith=query) | Q(name__icontains=query))
    if currency:
        accounts = accounts.filter(currency=currency)
    if status:
        accounts = accounts.filter(status=status)
    if kind:
        accounts = accounts.filter(kind=kind)
    if merchant_id is not None:
        accounts = accounts.filter(merchant_id=merchant_id)
    return accounts


def account_active_holds(*, account: Account, limit: int = 50) -> list[Hold]:
    """The account's funds set aside and not yet captured or released, newest first."""
    return list(
        Hold.objects.filter(account=account, status=Hold.Status.ACTIVE).order_by("-id")[:limit]
    )


def ledger_verify() -> dict[str, Any]:
    """Recompute every balance and hold from the ledger and compare with the accounts.

    Returns {"ok", "accounts_checked", "mismatches", "unbalanced_transactions"}.
    """
    entry_sums = dict(
        LedgerEntry.objects.values_list("account_id").annotate(total=Sum("amount")).order_by()
    )
    held_sums = dict(
        Hold.objects.filter(status=Hold.Status.ACTIVE)
        .values_list("account_id")
        # What is still held: a batch's hold is drawn on row by row (captured) and gives
        # back the share of a row that failed (released) before it closes.
        .annotate(total=Sum(F("amount") - F("captured_amount") - F("released_amount")))
        .order_by()
    )
    mismatches: list[dict[str, Any]] = []
    checked = 0
    for account_id, number, balance, held in Account.objects.values_list(
        "id", "number", "balance", "held"
    ).iterator(chunk_size=5000):
        checked += 1
        expected_balance = entry_sums.get(account_id, 0)
        expected_held = held_sums.get(account_id, 0)
        if balance != expected_balance or held != expected_held:
            mismatches.append(
                {
                    "account": number,
                    "balance": balance,
                    "entries_sum": expected_balance,
                    "held": held,
                    "active_holds_sum": expected_held,
                }
            )
    unbalanced = list(
        LedgerEntry.objects.values("transaction_id")
        .annotate(total=Sum("amount"))
        .filter(~Q(total=0))
        .values_list("transaction_id", flat=True)
        .order_by("transaction_id")[:100]
    )
    wrong_currency = list(
        LedgerEntry.objects.exclude(currency=F("account__currency")).values_list("id", flat=True)[
            :100
        ]
    )
    one_legged = list(
        LedgerTransaction.objects.filter(entries__isnull=True).values_list("id", flat=True)[:100]
    )
    ok = not (mismatches or unbalanced or wrong_currency or one_legged)
    return {
        "ok": ok,
        "accounts_checked": checked,
        "mismatches": mismatches,
        "unbalanced_transactions": unbalanced,
        "entries_in_wrong_currency": wrong_currency,
        "transactions_without_entries": one_legged,
    }
