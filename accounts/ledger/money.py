"""Amounts at the edges: decimal strings in major units <-> integer minor units.

Nothing here ever touches a float: a float amount is refused outright.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from django.db.models import Q

from accounts.ledger import currency as iso4217
from accounts.ledger.errors import InvalidAmount, UnknownCurrency, ZeroAmount

MAX_MINOR = 10**15  # a quadrillion minor units: far beyond any single payment


def check_currency(code: str) -> str:
    if not isinstance(code, str) or not iso4217.is_known(code):
        raise UnknownCurrency(f"unknown currency {code!r}: use an ISO 4217 code such as EUR")
    return code


def to_minor(amount: str | Decimal | int, currency: str, *, allow_zero: bool = False) -> int:
    """Parse a major-unit amount ("1234.50") into minor units (123450) for the currency.

    Refuses floats, signs other than a plain positive number, exponents, more
    decimals than the currency has, zero (unless allowed) and absurd sizes.
    """
    exponent = iso4217.exponent(check_currency(currency))
    if isinstance(amount, bool) or isinstance(amount, float):
        raise InvalidAmount('amount must be a decimal string such as "12.50", not a number')
    if isinstance(amount, int):
        value = Decimal(amount)
    elif isinstance(amount, Decimal):
        value = amount
    elif isinstance(amount, str):
        text = amount.strip()
        if not text or any(ch not in "0123456789.-" for ch in text) or text.count(".") > 1:
            raise InvalidAmount(f'amount {amount!r} is not a decimal number such as "12.50"')
        try:
            value = Decimal(text)
        except InvalidOperation:
            raise InvalidAmount(f"amount {amount!r} is not a decimal number") from None
    else:
        raise InvalidAmount('amount must be a decimal string such as "12.50"')
    if not value.is_finite():
        raise InvalidAmount("amount must be a finite number")
    if value < 0:
        raise InvalidAmount("amount must not be negative")
    minor = value.scaleb(exponent)
    if minor != minor.to_integral_value():
        raise InvalidAmount(
            f"{currency} amounts have {exponent} decimal{'s' if exponent != 1 else ''} at most"
        )
    minor_int = int(minor)
    if minor_int == 0 and not allow_zero:
        raise ZeroAmount("amount must be greater than zero")
    if minor_int > MAX_MINOR:
        raise InvalidAmount("amount is too large")
    return minor_int


def to_decimal(minor: int, currency: str) -> Decimal:
    exponent = iso4217.exponent(currency)
    return Decimal(minor).scaleb(-exponent).quantize(Decimal(1).scaleb(-exponent))


def to_major(minor: int, currency: str) -> str:
    """Format minor units as the decimal string of the API: 123450 EUR -> "1234.50"."""
    return str(to_decimal(minor, currency))


def amount_lookup(text: str, field: str = "amount") -> Q | None:
    """A filter matching `text` ("12.50") as an amount in any currency, or None if not an amount."""
    text = text.strip()
    if not text or any(ch not in "0123456789." for ch in text) or text.count(".") > 1:
        return None
    value = Decimal(text)
    match = Q()
    for exponent in sorted(set(iso4217.EXPONENTS.values())):
        minor = value.scaleb(exponent)
        if minor == minor.to_integral_value() and 0 < minor <= MAX_MINOR:
            codes = [code for code, exp in iso4217.EXPONENTS.items() if exp == exponent]
            match |= Q(**{field: int(minor), "currency__in": codes})
    return match or None
