"""Amounts at the edges: decimal strings to minor units and back."""

import re
from decimal import Decimal

import pytest

from accounts.ledger import money
from accounts.ledger.errors import InvalidAmount, UnknownCurrency, ZeroAmount


@pytest.mark.parametrize(
    ("amount", "currency", "minor"),
    [
        ("1234.50", "EUR", 123450),
        ("0.01", "EUR", 1),
        ("12", "EUR", 1200),
        ("1500", "JPY", 1500),
        ("1.234", "BHD", 1234),
        (Decimal("7.10"), "USD", 710),
        ("1.500", "EUR", 150),  # trailing zeros are not extra precision
    ],
)
def test_to_minor(amount, currency, minor):
    assert money.to_minor(amount, currency) == minor


@pytest.mark.parametrize(
    ("amount", "currency", "error"),
    [
        ("1.234", "EUR", InvalidAmount),
        ("1.5", "JPY", InvalidAmount),
        ("-1.00", "EUR", InvalidAmount),
        ("0", "EUR", ZeroAmount),
        ("0.00", "EUR", ZeroAmount),
        ("abc", "EUR", InvalidAmount),
        ("1e5", "EUR", InvalidAmount),
        ("NaN", "EUR", InvalidAmount),
        ("Infinity", "EUR", InvalidAmount),
        ("", "EUR", InvalidAmount),
        ("1.2.3", "EUR", InvalidAmount),
        (12.5, "EUR", InvalidAmount),
        ("10", "XYZ", UnknownCurrency),
        ("10", "eur", UnknownCurrency),
        ("99999999999999999999", "EUR", InvalidAmount),
        # Past Decimal's default 28 digits of precision: refused, never rounded.
        ("99.9999999999999999999999999999", "EUR", InvalidAmount),
        ("0.0000000000000000000000000000001", "EUR", InvalidAmount),
        ("1." + "0" * 40 + "1", "EUR", InvalidAmount),
        (Decimal("99.9999999999999999999999999999"), "EUR", InvalidAmount),
        ("9" * 5000, "EUR", InvalidAmount),
    ],
)
def test_to_minor_refuses(amount, currency, error):
    with pytest.raises(error):
        money.to_minor(amount, currency)


@pytest.mark.parametrize(
    ("minor", "currency", "text"),
    [
        (123450, "EUR", "1234.50"),
        (5, "EUR", "0.05"),
        (1500, "JPY", "1500"),
        (1234, "BHD", "1.234"),
        (-250, "EUR", "-2.50"),
    ],
)
def test_to_major(minor, currency, text):
    assert money.to_major(minor, currency) == text


@pytest.mark.parametrize(
    ("amount", "minor"),
    [
        ("12.50" + "0" * 40, 1250),  # trailing zeros at any length are not extra precision
        ("0" * 40 + "7.10", 710),
        ("10000000000000.00", money.MAX_MINOR),
    ],
)
def test_to_minor_is_exact_at_any_length(amount, minor):
    assert money.to_minor(amount, "EUR") == minor


def test_amount_lookup_does_not_round_an_over_precise_search():
    assert money.amount_lookup("99.9999999999999999999999999999") is None


def _general_path(monkeypatch, amount, currency):
    """`to_minor` with its fast path for plain amounts turned off."""
    with monkeypatch.context() as patch:
        patch.setattr(money, "_PLAIN", re.compile(r"(?!)"))
        return _outcome(amount, currency)


def _outcome(amount, currency):
    try:
        return money.to_minor(amount, currency)
    except Exception as error:  # noqa: BLE001 - the refusal itself is what is compared
        return type(error), str(error)


@pytest.mark.parametrize("currency", ["EUR", "JPY", "KWD"])
@pytest.mark.parametrize(
    "amount",
    [
        "1", "1.0", "1.00", "1.000", "1.001", "0", "0.00", " 00012.5 ", "5.", "0.001",
        "1234567890123456", "9999999999999.99", "10000000000000.00", "10000000000000.01",
        "99.9999999999999999999999999999", "12.5" + "0" * 26, "12.5" + "0" * 25 + "1",
    ],
)  # fmt: skip
def test_plain_amounts_read_as_the_general_path_reads_them(monkeypatch, amount, currency):
    # Plain "digits[.digits]" amounts skip Decimal; every answer and refusal must be the same.
    assert money._PLAIN.fullmatch(amount.strip())  # so the fast path is the one compared
    assert _outcome(amount, currency) == _general_path(monkeypatch, amount, currency)


@pytest.mark.parametrize("currency", ["EUR", "JPY", "KWD", "BHD", "CLF"])
@pytest.mark.parametrize(
    "minor", [0, 1, 5, 9, 10, 99, 100, 101, 123450, -1, -250, -100000, 10**15, -(10**15) + 7]
)
def test_to_major_is_the_decimal_text(minor, currency):
    assert money.to_major(minor, currency) == str(money.to_decimal(minor, currency))
