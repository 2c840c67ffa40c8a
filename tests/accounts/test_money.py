"""Amounts at the edges: decimal strings to minor units and back."""

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
