"""CSV cells that a spreadsheet will not run as formulas (OWASP "CSV injection").

Every cell of every CSV the hub writes for people (payment exports, batch
reports) goes through `safe_cell`.

A cell that begins with `=`, `+`, `-`, `@`, a tab or a carriage return gets a
single quote in front, so Excel, LibreOffice and Google Sheets show it as text.
This applies to numbers too: amounts are written as plain decimal strings
("1234.50"), which begin with a digit and come out unchanged, while a signed
value ("-12.50", "+12.50") is quoted ("'-12.50"). A program reading the file
sees the quote and strips it; a spreadsheet shows the value as text instead of
evaluating `-12.50+cmd|...`. Quoting one negative number is a small cost next
to guessing which sign-led cells are "really" numbers.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Iterator
from typing import Any

FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value: Any) -> str:
    """The cell's text, with a leading single quote when it would start a formula."""
    text = "" if value is None else str(value)
    if text.startswith(FORMULA_TRIGGERS):
        return "'" + text
    return text


class _Echo:
    """A file-like object whose `write` hands the line back, for csv.writer over a stream."""

    def write(self, value: str) -> str:
        return value


def csv_lines(header: Iterable[Any], rows: Iterable[Iterable[Any]]) -> Iterator[str]:
    """CSV text, a line at a time (for a StreamingHttpResponse), every cell through `safe_cell`."""
    writer = csv.writer(_Echo())
    yield writer.writerow([safe_cell(cell) for cell in header])
    for row in rows:
        yield writer.writerow([safe_cell(cell) for cell in row])
