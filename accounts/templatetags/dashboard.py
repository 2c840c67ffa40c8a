"""Template filters of the operator dashboard: amounts in major units and percentages.

`{{ payment.amount|amount:payment.currency }}` shows minor units with their currency as
"1,234.50 EUR", the way every page and message of the desk writes an amount (the same
text as `accounts.ledger.money.display`); `money` is the number alone, for a column whose
currency is said once; `signed_money` adds a "+" to credits, for statements.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django import template

from accounts.ledger import currency as iso4217
from accounts.ledger import money as amounts

register = template.Library()

NOTHING = "—"


@register.filter
def money(minor: Any, currency: str) -> str:
    """Minor units as a grouped decimal string of the currency: 123450, "EUR" -> "1,234.50"."""
    if minor is None or minor == "" or not iso4217.is_known(currency or ""):
        return NOTHING
    return amounts.to_grouped(int(minor), currency)


@register.filter
def amount(minor: Any, currency: str) -> str:
    """Minor units with their currency: 120000, "USD" -> "1,200.00 USD" ("—" when unknown)."""
    if minor is None or minor == "":
        return NOTHING
    return amounts.display(int(minor), currency)


@register.filter
def signed_money(minor: Any, currency: str) -> str:
    """`money` with an explicit sign: "+12.50" for a credit, "-12.50" for a debit."""
    text = money(minor, currency)
    if text != NOTHING and int(minor) > 0:
        return f"+{text}"
    return text


@register.filter
def percent(value: Decimal | None) -> str:
    """A percentage from the selectors (Decimal with one decimal, or None) as "97.5%"."""
    return NOTHING if value is None else f"{value}%"
