"""Amounts at the edges: decimal strings in major units <-> integer minor units.

Nothing here ever touches a float: a float amount is refused outright.
"""

from __future__ import annotations

import re
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal, InvalidOperation

from django.db.models import Q

from accounts.ledger import currency as iso4217
from accounts.ledger.errors import InvalidAmount, UnknownCurrency, ZeroAmount

MAX_MINOR = 10**15  # a quadrillion minor units: far beyond any single payment
# The usual shape of an amount ("1234.5", "12.50", "7"): read with integers alone. Anything
# else (".5", "1e3", a sign, 20 digits...) takes the general path below.
_PLAIN = re.compile(r"([0-9]{1,16})(?:\.([0-9]{0,30}))?")


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
    if type(amount) is str and (plain := _PLAIN.fullmatch(amount.strip())):
        return _plain_minor(plain, currency, exponent, allow_zero)
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
    minor_int = _exact_minor(value, exponent)
    if minor_int is None:
        raise InvalidAmount(
            f"{currency} amounts have {exponent} decimal{'s' if exponent != 1 else ''} at most"
        )
    if minor_int == 0 and not allow_zero:
        raise ZeroAmount("amount must be greater than zero")
    if minor_int > MAX_MINOR:
        raise InvalidAmount("amount is too large")
    return minor_int


def _plain_minor(plain: re.Match, currency: str, exponent: int, allow_zero: bool) -> int:
    """`to_minor` of a plain "digits[.digits]" amount: the same answers, no Decimal."""
    whole, fraction = plain.group(1), plain.group(2) or ""
    if len(fraction) > exponent:
        if fraction[exponent:].strip("0"):
            raise InvalidAmount(
                f"{currency} amounts have {exponent} decimal{'s' if exponent != 1 else ''} at most"
            )
        fraction = fraction[:exponent]
    minor = int(whole) * 10**exponent + (
        int(fraction) * 10 ** (exponent - len(fraction)) if fraction else 0
    )
    if minor == 0 and not allow_zero:
        raise ZeroAmount("amount must be greater than zero")
    if minor > MAX_MINOR:
        raise InvalidAmount("amount is too large")
    return minor


def _exact_minor(value: Decimal, exponent: int) -> int | None:
    """`value` in minor units, exactly, or None when it has more decimals than `exponent`.

    Integer arithmetic on the digits: Decimal's own arithmetic (`scaleb`, `quantize`)
    rounds to the context's 28 digits, which once turned "99.9999999999999999999999999999"
    into 100.00. Sizes past MAX_MINOR come back as MAX_MINOR + 1 without building a
    number of a million digits.
    """
    _sign, digits, digits_exponent = value.as_tuple()
    assert isinstance(digits_exponent, int)  # finite: checked by the caller
    shift = digits_exponent + exponent  # value * 10**exponent == int(digits) * 10**shift
    if shift < 0:
        dropped = digits[shift:]
        if any(dropped):
            return None
        digits = digits[:shift]
        shift = 0
    significant = len(digits) - next((i for i, d in enumerate(digits) if d), len(digits))
    if significant == 0:
        return 0
    if significant + shift > len(str(MAX_MINOR)):
        return MAX_MINOR + 1
    return int("".join(map(str, digits)) or "0") * 10**shift


def to_decimal(minor: int, currency: str) -> Decimal:
    exponent = iso4217.exponent(currency)
    return Decimal(minor).scaleb(-exponent).quantize(Decimal(1).scaleb(-exponent))


def to_major(minor: int, currency: str) -> str:
    """Format minor units as the decimal string of the API: 123450 EUR -> "1234.50"."""
    if type(minor) is not int:
        return str(to_decimal(minor, currency))
    # Integer arithmetic, the same text as the Decimal above (reports write it 100,000 times).
    exponent = iso4217.exponent(currency)
    whole, part = divmod(-minor if minor < 0 else minor, 10**exponent)
    sign = "-" if minor < 0 else ""
    return f"{sign}{whole}.{part:0{exponent}d}" if exponent else f"{sign}{whole}"


def to_grouped(minor: int, currency: str) -> str:
    """Minor units as a page shows them, thousands grouped: 123450 EUR -> "1,234.50"."""
    return f"{to_decimal(minor, currency):,f}"


def display(minor: int | None, currency: str) -> str:
    """An amount with its currency for a page: 123450 EUR -> "1,234.50 EUR"; "—" when unknown."""
    if minor is None or not iso4217.is_known(currency or ""):
        return "—"
    return f"{to_grouped(minor, currency)} {currency}"


def amount_lookup(text: str, field: str = "amount") -> Q | None:
    """A filter matching `text` ("12.50") as an amount in any currency, or None if not an amount."""
    text = text.strip()
    if not text or any(ch not in "0123456789." for ch in text) or text.count(".") > 1:
        return None
    value = Decimal(text)
    match = Q()
    for exponent in sorted(set(iso4217.EXPONENTS.values())):
        minor = _exact_minor(value, exponent)
        if minor is not None and 0 < minor <= MAX_MINOR:
            codes = [code for code, exp in iso4217.EXPONENTS.items() if exp == exponent]
            match |= Q(**{field: minor, "currency__in": codes})
    return match or None


def amount_range(
    low: Decimal | None, high: Decimal | None, currency: str = "", field: str = "amount"
) -> Q:
    """Rows whose `field` lies in [low, high] major units (either bound may be None).

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
        if low is not None:
            bounds &= Q(**{f"{field}__gte": int(low.scaleb(exponent).to_integral(ROUND_CEILING))})
        if high is not None:
            bounds &= Q(**{f"{field}__lte": int(high.scaleb(exponent).to_integral(ROUND_FLOOR))})
        match |= bounds
    return match
