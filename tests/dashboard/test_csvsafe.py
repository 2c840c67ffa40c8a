"""common.csvsafe: cells a spreadsheet would run as formulas are quoted, nothing else is."""

from __future__ import annotations

from decimal import Decimal
from uuid import UUID

import pytest

from common.csvsafe import safe_cell


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (
            '=HYPERLINK("http://evil.example","click")',
            '\'=HYPERLINK("http://evil.example","click")',
        ),
        ("+1+cmd|' /C calc'!A0", "'+1+cmd|' /C calc'!A0"),
        ("-2+3", "'-2+3"),
        ("@SUM(A1:A9)", "'@SUM(A1:A9)"),
        ("\t=1+1", "'\t=1+1"),
        ("\r=1+1", "'\r=1+1"),
        ("-12.50+cmd|' /C calc'!A0", "'-12.50+cmd|' /C calc'!A0"),
        ("-1e3", "'-1e3"),
        ("+12.50", "'+12.50"),  # no amount is written with a plus
        ("-", "'-"),
        ("-\u0661", "'-\u0661"),  # an Arabic-Indic digit is not an ASCII number
    ],
)
def test_a_cell_that_starts_a_formula_gets_a_leading_quote(value, expected):
    assert safe_cell(value) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("order 12", "order 12"),
        ("1234.50", "1234.50"),
        ("a=b", "a=b"),  # only the first character matters
        ("", ""),
        (None, ""),
        (42, "42"),
        (Decimal("12.50"), "12.50"),
        (UUID("12345678-1234-5678-1234-567812345678"), "12345678-1234-5678-1234-567812345678"),
        ("'=already quoted", "'=already quoted"),
        # Well-formed numbers stay numbers, so files go round (failed.csv uploads again).
        ("-5.00", "-5.00"),
        (-5, "-5"),
        (Decimal("-0.01"), "-0.01"),
    ],
)
def test_other_cells_come_out_as_their_text(value, expected):
    assert safe_cell(value) == expected
