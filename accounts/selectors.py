"""Read queries of accounts and the ledger, including the ledger's self-check."""

from __future__ import annotations

from typing import Any

from django.db.models import F, Q, QuerySet, Sum

from accounts.models import Account, Hold, LedgerEntry, LedgerTransaction, Merchant


def accounts_of_merchant(*, merchant: Merchant) -> QuerySet[Account]:
    return Account.objects.filter(merchant=merchant).order_by("number")


def account_entries(*, account: Account) -> QuerySet[LedgerEntry]:
    """The account's statement, newest first."""
    return LedgerEntry.objects.filter(account=account).select_related("transaction").order_by("-id")


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
        .annotate(total=Sum("amount"))
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
