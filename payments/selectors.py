"""Read queries of payments: what a merchant may see, and account look-ups by number."""

from __future__ import annotations

from django.db.models import QuerySet

from accounts.models import Account, Merchant
from payments.models import Payment, WebhookDelivery


def accounts_by_number(*, numbers: list[str]) -> dict[str, Account]:
    """Accounts by number, in one query; numbers not found are absent."""
    return {account.number: account for account in Account.objects.filter(number__in=numbers)}


def payments_of_merchant(*, merchant: Merchant) -> QuerySet[Payment]:
    return Payment.objects.filter(merchant=merchant).select_related(
        "debtor_account", "creditor_account"
    )


def webhooks_of_merchant(*, merchant: Merchant) -> QuerySet[WebhookDelivery]:
    return WebhookDelivery.objects.filter(merchant=merchant)
