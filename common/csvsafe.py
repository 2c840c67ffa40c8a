"""CSV cells that a spreadsheet will not run as formulas (OWASP "CSV injection").

Every cell of every CSV the hub writes for people (payment exports, batch
reports) goes through `safe_cell`.

A text cell that begins with `=`, `+`, `-`, `@`, a tab or a carriage return gets
a single quote in front, so Excel, LibreOffice and Google Sheets show it as text.
A well-formed amount is never touched: "-5.00" (a minus, digits, at most one point
and digits) is a number to every spreadsheet and runs nothing, and a quote in front
of it would break the files that go round (a failed.csv uploaded again would carry
"'-5.00" as its amount). Anything more, "-2+3" or "-12.50+cmd|...", is text that
starts like a formula and is quoted; so is "+336...", which no amount of ours is
written as and which a spreadsheet would turn into a number, losing the plus.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterable, Iterator
from typing import Any

FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
# A plain negative decimal, in ASCII digits, and nothing after it.
_NUMBER = re.compile(r"-[0-9]+(?:\.[0-9]+)?")


def safe_cell(value: Any) -> str:
    """The cell's text, with a leading single quote when it would start a formula."""
    text = "" if value is None else str(value)
    if text.startswith(FORMULA_TRIGGERS) and not _NUMBER.fullmatch(text):
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
