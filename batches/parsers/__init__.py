"""Batch payment file parsers: one module per format, one line per format in `PARSERS`.

`parse` gives a file to the parser that claims its first bytes and streams the rows back;
`detect` says, in an operator's words, why no parser claims a file.
"""

from __future__ import annotations

import codecs
import re
from typing import BinaryIO

from .base import (
    HEAD_SIZE,
    FileHeader,
    FileRejected,
    ParsedFile,
    ParsedRow,
    Parser,
    looks_like_xml,
    read_xml_prolog,
)
from .csv_format import OPTIONAL_COLUMNS, REQUIRED_COLUMNS, CsvParser
from .pain001 import Pain001Parser
from .postal import CSV_COLUMNS as _ADDRESS_COLUMNS

__all__ = [
    "PARSERS",
    "FileHeader",
    "FileRejected",
    "ParsedFile",
    "ParsedRow",
    "Parser",
    "detect",
    "parse",
]

_OPTIONAL = [name for name in OPTIONAL_COLUMNS if name not in _ADDRESS_COLUMNS]
# Asked in this order; the first whose sniff says yes gets the file.
PARSERS: list[Parser] = [
    Pain001Parser("pain.001.001.03", execution_date_wrapped=False),
    Pain001Parser("pain.001.001.09", execution_date_wrapped=True),
    CsvParser(),
]

_ISO_NAMESPACE = re.compile(
    r"urn:iso:std:iso:20022:tech:xsd:([a-z]{4}\.[0-9]{3}\.[0-9]{3}\.[0-9]{2})"
)


def detect(head: bytes) -> Parser:
    """The parser for a file that starts with `head` (its first 4 KiB), or FileRejected FF01."""
    for parser in PARSERS:
        if parser.sniff(head):
            return parser
    raise FileRejected("FF01", _why_unclaimed(head))


def parse(stream: BinaryIO, *, max_rows: int) -> ParsedFile:
    """Parse a seekable binary stream; rows stream out as the returned file is iterated."""
    head = stream.read(HEAD_SIZE)
    stream.seek(0)
    return detect(head).parse(stream, max_rows=max_rows)


def first_debtor_account(stream: BinaryIO) -> str:
    """The debtor account that a pain.001 names in its first PmtInf; "" for a CSV, or a
    file that names none early on (see Pain001Parser.first_debtor_account)."""
    head = stream.read(HEAD_SIZE)
    stream.seek(0)
    for parser in PARSERS:
        if isinstance(parser, Pain001Parser) and parser.sniff(head):
            return parser.first_debtor_account(stream)
    return ""


def _why_unclaimed(head: bytes) -> str:
    upload = "upload a CSV file or a pain.001 XML file"
    if not head.strip():
        return "the file is empty: no transactions"
    if head.startswith(b"%PDF"):
        return f"the file is a PDF document; {upload}"
    if head.startswith((b"PK\x03\x04", b"\xd0\xcf\x11\xe0")):
        return f"the file is a spreadsheet or an archive, not text; {upload} (save CSV as UTF-8)"
    if looks_like_xml(head):
        return _why_xml_unclaimed(head)
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        return "the file is UTF-16 text; save the CSV as UTF-8"
    if b"\x00" in head or not _is_utf8(head):
        return f"the file is not UTF-8 text; {upload}"
    lines = head.decode("utf-8", "replace").splitlines()
    first_line = next((line for line in lines if line.strip()), "")
    return (
        f"the file is neither pain.001 nor a CSV with a header row naming"
        f" {','.join(REQUIRED_COLUMNS)} (optional: {','.join(_OPTIONAL)}, the creditor's"
        f" address in creditor_street, creditor_town...);"
        f" its first line is {first_line.strip()[:80]!r}"
    )


def _why_xml_unclaimed(head: bytes) -> str:
    prolog = read_xml_prolog(head)
    if prolog.has_dtd:
        return "DTDs and entities are not allowed"
    if not prolog.root:
        return "no XML root element in the first 4 KiB of the file"
    supported = [parser.format for parser in PARSERS if parser.format.startswith("pain.001")]
    message = _ISO_NAMESPACE.fullmatch(prolog.namespace)
    found = message.group(1) if message else ""
    if found.startswith("pain.001.") and found not in supported:
        return f"{found} is not supported; send {' or '.join(supported)}"
    if found in supported:
        return f"a {found} file must start with Document, not {prolog.root}"
    what = found or (f"namespace {prolog.namespace}" if prolog.namespace else "no namespace")
    return (
        f"the XML file ({prolog.root}, {what}) is not a pain.001 credit transfer initiation;"
        f" send {' or '.join(supported)}"
    )


def _is_utf8(head: bytes) -> bool:
    # The head may end inside a multi-byte character; only a real error counts.
    try:
        codecs.getincrementaldecoder("utf-8")().decode(head, final=False)
    except UnicodeDecodeError:
        return False
    return True
