"""The parser interface every batch file format implements, and what a parser hands back.

Rows come out one at a time (`ParsedFile` is an iterator, never a list); a file-level problem
is a `FileRejected` with a DESIGN.md reason code, a row-level one is the row's `problem`.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import BinaryIO, Protocol

# How much of a file `detect` looks at, and how far into a file its root element must start.
HEAD_SIZE = 4096
# Longest value a row may carry, in characters: above it the row gets a problem and the value
# is cut, so nothing downstream stores or echoes megabytes from one cell.
MAX_VALUE_LENGTH = 500

# xs:decimal's lexical form, in ASCII digits. Python's Decimal() also takes "1e3", "NaN",
# "1_000", spaces and Arabic-Indic digits, none of which belong in an amount or a control sum.
_DECIMAL = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)")
_DECIMAL_MAX_LENGTH = 40


# Slots, not frozen: a frozen dataclass sets each of its 25 fields through
# object.__setattr__ (a quarter of a second per 100,000 rows); nothing changes a row.
@dataclass(slots=True)
class ParsedRow:
    """One transaction as the file states it; nothing here is validated against accounts."""

    row: int  # 1-based index of the transaction (CSV: data rows; header, blank lines not counted)
    creditor_account: str  # pain.001: CdtrAcct/Id/IBAN or CdtrAcct/Id/Othr/Id
    amount: str  # the text exactly as in the file, stripped; validation converts it
    currency: str  # pain.001: InstdAmt/@Ccy
    reference: str  # pain.001: RmtInf/Ustrd (joined with " "), else the structured reference
    creditor_name: str = ""  # pain.001: Cdtr/Nm
    end_to_end_id: str = ""  # pain.001: PmtId/EndToEndId, "NOTPROVIDED" kept as is
    debtor_account: str = ""  # pain.001: the enclosing PmtInf's DbtrAcct; CSV: ""
    execution_date: date | None = None  # pain.001: the enclosing PmtInf's ReqdExctnDt; CSV: None
    # pain.001 .09: ReqdExctnDt/DtTm when the block gave a time, as written (offset kept).
    execution_datetime: datetime | None = None
    payment_information_id: str = ""  # pain.001: PmtInf/PmtInfId
    block: int | None = None  # pain.001: 1-based index of the enclosing PmtInf in the file
    instruction_id: str = ""  # pain.001: PmtId/InstrId, "" when the file has none
    uetr: str = ""  # pain.001 .09: PmtId/UETR
    # Amt/EqvtAmt: `amount`/`currency` are EqvtAmt/Amt, `transfer_currency` is CcyOfTrf.
    # Amt/InstdAmt: `transfer_currency` is "".
    transfer_currency: str = ""
    creditor_reference: str = ""  # RmtInf/Strd/CdtrRefInf/Ref (QR reference, RF reference)
    creditor_reference_type: str = ""  # its Tp/CdOrPrtry/Cd (SCOR) or Prtry (QRR)
    creditor_agent_bic: str = ""  # CdtrAgt/FinInstnId/BIC (.03) or BICFI (.09)
    ultimate_debtor: str = ""  # UltmtDbtr/Nm of the transaction, else of its PmtInf
    ultimate_creditor: str = ""  # UltmtCdtr/Nm
    # Postal addresses (iso20022.addresses dicts), None when the file gives none. pain.001:
    # PmtInf/Dbtr/PstlAdr, Cdtr/PstlAdr, UltmtDbtr/PstlAdr (the transaction's, else its
    # PmtInf's), UltmtCdtr/PstlAdr; CSV: the creditor_* and ultimate_creditor_* columns.
    debtor_address: dict | None = None
    creditor_address: dict | None = None
    ultimate_debtor_address: dict | None = None
    ultimate_creditor_address: dict | None = None
    problem: str = ""  # what is structurally wrong with this row alone; "" when nothing is


@dataclass
class FileHeader:
    format: str  # "csv", "pain.001.001.03", "pain.001.001.09"
    message_id: str = ""  # GrpHdr/MsgId
    declared_count: int | None = None  # GrpHdr/NbOfTxs
    declared_control_sum: Decimal | None = None  # GrpHdr/CtrlSum
    initiating_party: str = ""  # GrpHdr/InitgPty/Nm
    created_at: str = ""  # GrpHdr/CreDtTm exactly as written
    declared_control_sum_text: str = ""  # GrpHdr/CtrlSum exactly as written, "" when absent


class FileRejected(Exception):
    """The whole file is refused."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


class ParsedFile:
    """A parsed file's header and its rows, streamed once, in file order.

    Iterating may raise `FileRejected` part-way (a malformed element, too many rows) or after
    the last row (counts or control sums that disagree), so a caller must not act on the rows
    it has seen until the iteration has finished without an exception.
    """

    def __init__(self, header: FileHeader, rows: Iterator[ParsedRow]) -> None:
        self.header = header
        self._rows = rows
        self._started = False

    def __iter__(self) -> Iterator[ParsedRow]:
        # The rows come from a stream that is read as they are produced: a second pass would
        # silently see nothing, so make it loud instead.
        if self._started:
            raise RuntimeError("a ParsedFile streams its rows once; parse the file again")
        self._started = True
        return self._rows


class Parser(Protocol):
    format: str

    def sniff(self, head: bytes) -> bool:
        """Does this parser claim a file that starts with these bytes (the first 4 KiB)?"""
        ...

    def parse(self, stream: BinaryIO, *, max_rows: int) -> ParsedFile: ...


def parse_decimal(text: str) -> Decimal | None:
    """The exact value of a decimal string, or None when it is not one (validation says why)."""
    if len(text) > _DECIMAL_MAX_LENGTH or not _DECIMAL.fullmatch(text):
        return None
    return Decimal(text)


def too_many_rows(max_rows: int) -> FileRejected:
    return FileRejected(
        "FF01", f"the file has more than {max_rows} transactions; the limit is {max_rows}"
    )


# --- XML prolog -------------------------------------------------------------------------------
# Shared by the XML parsers (to refuse DTDs before libxml2 sees a byte) and by `detect` (to say
# what an unclaimed XML file is). Only markup characters are looked at, so decoding as latin-1
# is enough for every ASCII-compatible encoding; UTF-16 is recognised by its byte pattern.


@dataclass(frozen=True)
class XmlProlog:
    root: str = ""  # local name of the root element, "" when it was not reached
    namespace: str = ""  # the root's namespace URI, "" when it has none
    has_dtd: bool = False  # a <!DOCTYPE ...> (or any other <!...> declaration) before the root


# Possessive quantifiers throughout: the head is whatever the uploader sent, and a pattern
# that backtracks (say over "<a" and 4,000 spaces) would take minutes to give up.
_NAME = r"[^\s/>=:<]++"
_ROOT_TAG = re.compile(rf"<(?:({_NAME}):)?({_NAME})([^>]*+)>")
_XMLNS = re.compile(r"""xmlns(?::([^\s=]++))?\s*+=\s*+(?:"([^"]*+)"|'([^']*+)')""")


def _markup_text(head: bytes) -> str:
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        return head[: len(head) // 2 * 2].decode("utf-16", "replace")
    if head.startswith(b"<\x00"):
        return head[: len(head) // 2 * 2].decode("utf-16-le", "replace")
    if head.startswith(b"\x00<"):
        return head[: len(head) // 2 * 2].decode("utf-16-be", "replace")
    return head.removeprefix(b"\xef\xbb\xbf").decode("latin-1")


def looks_like_xml(head: bytes) -> bool:
    return _markup_text(head).lstrip().startswith("<")


def read_xml_prolog(head: bytes) -> XmlProlog:
    """What comes before and at the root element: declarations, comments, PIs, the root tag."""
    text = _markup_text(head)
    pos = 0
    while True:
        while pos < len(text) and text[pos].isspace():
            pos += 1
        if text.startswith("<?", pos):
            end = text.find("?>", pos)
            if end < 0:
                return XmlProlog()
            pos = end + 2
        elif text.startswith("<!--", pos):
            end = text.find("-->", pos + 4)
            if end < 0:
                return XmlProlog()
            pos = end + 3
        elif text.startswith("<!", pos):
            # <!DOCTYPE, <!ENTITY, <!ELEMENT...: the only way to declare entities. Nothing after
            # it is trusted, so scanning stops here.
            return XmlProlog(has_dtd=True)
        elif text.startswith("<", pos):
            match = _ROOT_TAG.match(text, pos)
            if match is None:
                return XmlProlog()
            prefix, root, attributes = match.group(1) or "", match.group(2), match.group(3)
            namespace = ""
            for declared in _XMLNS.finditer(attributes):
                if (declared.group(1) or "") == prefix:
                    quoted = declared.group(2)
                    namespace = quoted if quoted is not None else declared.group(3)
            return XmlProlog(root=root, namespace=namespace)
        else:
            return XmlProlog()
