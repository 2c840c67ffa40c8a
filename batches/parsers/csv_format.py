"""CSV batch files: UTF-8 (a BOM is accepted), a header row naming the columns, one row per payment.

Owns the column contract of DESIGN.md "Files accepted" and each row's structural checks; what
the values mean (amounts, currencies, accounts) is for validation.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from typing import TYPE_CHECKING, BinaryIO

from . import postal
from .base import (
    MAX_VALUE_LENGTH,
    FileHeader,
    FileRejected,
    ParsedFile,
    ParsedRow,
    too_many_rows,
)

if TYPE_CHECKING:
    from _csv import Reader

REQUIRED_COLUMNS = ("creditor_account", "amount", "currency", "reference")
OPTIONAL_COLUMNS = ("creditor_name", "end_to_end_id", *postal.CSV_COLUMNS)
COLUMNS = REQUIRED_COLUMNS + OPTIONAL_COLUMNS
# Values a payment cannot be made without. An empty reference is allowed, as in pain.001.
NON_EMPTY = ("creditor_account", "amount", "currency")

# Bytes that are not UTF-8 come through as lone surrogates (errors="surrogateescape"), so the
# row that holds them, and hence its line, is known; a strict decoder fails a whole 8 KiB chunk
# ahead of the csv reader and cannot say where.
_NOT_TEXT = re.compile("[\x00\udc80-\udcff]")
_LINE_BREAK = re.compile(r"\r\n|\r|\n")
_SEPARATOR = re.compile(r"[,;\t|]")


class _Borrowed(io.BufferedIOBase):
    """The caller's stream, lent to a TextIOWrapper.

    A TextIOWrapper closes its buffer when it is garbage-collected; the caller still needs the
    upload afterwards (to hash it, to store it), so the wrapper gets this instead.
    """

    def __init__(self, stream: BinaryIO) -> None:
        super().__init__()
        self._stream = stream

    def readable(self) -> bool:
        return True

    def read(self, size: int | None = -1) -> bytes:
        return self._stream.read(-1 if size is None else size)

    def read1(self, size: int = -1) -> bytes:
        return self._stream.read(size)


class CsvParser:
    format = "csv"

    def sniff(self, head: bytes) -> bool:
        # Claim text whose first line names at least one of our columns, even with the wrong
        # separator or a missing column: `parse` then says precisely what is wrong with it.
        text = head.removeprefix(b"\xef\xbb\xbf").decode("utf-8", "replace")
        for line in text.splitlines():
            if line.strip():
                cells = _SEPARATOR.split(line)
                return any(cell.strip().strip("\"'").lower() in COLUMNS for cell in cells)
        return False

    def parse(self, stream: BinaryIO, *, max_rows: int) -> ParsedFile:
        text = io.TextIOWrapper(
            # typeshed's protocol wants a `name` too, which TextIOWrapper reads for repr only.
            _Borrowed(stream),  # type: ignore[type-var]
            encoding="utf-8-sig",
            errors="surrogateescape",
            newline="",
        )
        reader = csv.reader(text)
        columns = self._header(reader)
        return ParsedFile(FileHeader(format=self.format), self._rows(reader, columns, max_rows))

    def _header(self, reader: Reader) -> list[str]:
        for line, cells in _records(reader):
            if not "".join(cells).strip():
                continue
            _refuse_non_text(cells, line)
            return _columns(cells)
        raise FileRejected("FF01", "the file is empty: no header row and no transactions")

    def _rows(self, reader: Reader, columns: list[str], max_rows: int) -> Iterator[ParsedRow]:
        width = len(columns)
        count = 0
        for line, cells in _records(reader):
            joined = "".join(cells)
            # A blank line, or a line of empty cells such as a spreadsheet's trailing ",,,".
            if not joined.strip():
                continue
            if _NOT_TEXT.search(joined):
                _refuse_non_text(cells, line)
            count += 1
            if count > max_rows:
                raise too_many_rows(max_rows)
            yield _row(count, cells, columns, width)
        if count == 0:
            raise FileRejected("FF01", "no transactions: the file holds a header row only")


def _records(reader: Reader) -> Iterator[tuple[int, list[str]]]:
    """Each CSV record with the number of the physical line it starts on."""
    while True:
        line = reader.line_num + 1
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as error:
            raise FileRejected("FF01", f"line {reader.line_num}: {error}") from None
        yield line, cells


def _refuse_non_text(cells: list[str], line: int) -> None:
    joined = "".join(cells)
    found = _NOT_TEXT.search(joined)
    if found is None:
        return
    # Line breaks inside quoted cells move the offending byte onto a later physical line.
    line += len(_LINE_BREAK.findall(joined, 0, found.start()))
    if found.group() == "\x00":
        raise FileRejected("FF01", f"line {line} contains a NUL byte; a CSV file must be text")
    byte = ord(found.group()) - 0xDC00
    raise FileRejected("FF01", f"line {line} is not valid UTF-8 (byte 0x{byte:02X})")


def _columns(cells: list[str]) -> list[str]:
    names = [cell.strip().lower() for cell in cells]
    if len(names) == 1 and _SEPARATOR.search(names[0]):
        raise FileRejected(
            "FF01", f"the header {cells[0].strip()!r} is not separated by commas; use commas"
        )
    problems = []
    unnamed = [str(index) for index, name in enumerate(names, start=1) if not name]
    if unnamed:
        problems.append(f"column(s) {', '.join(unnamed)} of the header have no name")
    unknown = [cell.strip() for cell, name in zip(cells, names, strict=True) if name]
    unknown = [cell for cell in unknown if cell.lower() not in COLUMNS]
    if unknown:
        problems.append(f"unknown column(s): {', '.join(unknown)}")
    duplicates = sorted({name for name in names if name and names.count(name) > 1})
    if duplicates:
        problems.append(f"duplicate column(s): {', '.join(duplicates)}")
    missing = [name for name in REQUIRED_COLUMNS if name not in names]
    if missing:
        problems.append(f"missing required column(s): {', '.join(missing)}")
    if problems:
        expected = (
            f"the header must name {', '.join(REQUIRED_COLUMNS)}"
            f" and may name {', '.join(OPTIONAL_COLUMNS)}"
        )
        raise FileRejected("FF01", f"{'; '.join(problems)} ({expected})")
    return names


def _row(count: int, cells: list[str], columns: list[str], width: int) -> ParsedRow:
    problems = []
    if len(cells) != width:
        problems.append(f"row has {len(cells)} cells, the header has {width}")
    values = dict.fromkeys(COLUMNS, "")
    for name, cell in zip(columns, cells, strict=False):
        value = cell.strip()
        if len(value) > MAX_VALUE_LENGTH:
            problems.append(f"{name} is longer than {MAX_VALUE_LENGTH} characters")
            value = value[:MAX_VALUE_LENGTH]
        values[name] = value
    # When the cell count is off the values may sit in the wrong columns; saying that one of
    # them is empty as well would only add noise.
    if len(cells) == width:
        problems.extend(f"{name} is empty" for name in NON_EMPTY if not values[name])
    return ParsedRow(
        row=count,
        creditor_account=values["creditor_account"],
        amount=values["amount"],
        currency=values["currency"],
        reference=values["reference"],
        creditor_name=values["creditor_name"],
        end_to_end_id=values["end_to_end_id"],
        creditor_address=postal.from_csv(values),
        problem="; ".join(problems),
    )
