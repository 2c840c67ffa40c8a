"""ISO 20022 pain.002 status reports (.001.10 and, for older ERPs, .001.03) for a batch.

The report describes the original message as the customer sent it: its MsgId, MsgNmId,
CreDtTm, NbOfTxs and CtrlSum, one OrgnlPmtInfAndSts per PmtInf with its own status, counts and
sums, and each transaction's InstrId (where given), EndToEndId, UETR, amount and parties.
Written incrementally (iso20022.xmlwriter), so 100,000 transactions take constant memory; every
value is escaped, cleaned of characters XML cannot carry and cut to the schema's lengths.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from itertools import groupby
from typing import BinaryIO

from iso20022.markup import account_id_markup, creditor_reference_markup, postal_address_markup
from iso20022.xmlwriter import XmlWriter, attribute, escape

VERSIONS = ("pain.002.001.10", "pain.002.001.03")
DEFAULT_VERSION = VERSIONS[0]
NAMESPACE = "urn:iso:std:iso:20022:tech:xsd:pain.002.001.10"

# Characters outside XML 1.0's Char production (control characters, lone surrogates, U+FFFE/F).
# A CSV cell may hold them; lxml would refuse them outright, so they become U+FFFD.
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
_CODE = re.compile(r"[A-Z0-9]{4}")
# ActiveOrHistoricCurrencyAndAmount and DecimalNumber: at most 18 digits, 5 (17) of them after
# the point; amounts are never negative.
_AMOUNT = re.compile(r"[0-9]{1,18}(?:\.[0-9]{1,5})?")
_CONTROL_SUM = re.compile(r"-?[0-9]{1,18}(?:\.[0-9]{1,17})?")
_CURRENCY = re.compile(r"[A-Z]{3}")
_TOTAL_DIGITS = 18
_UUID4 = re.compile(r"[a-f0-9]{8}-[a-f0-9]{4}-4[a-f0-9]{3}-[89ab][a-f0-9]{3}-[a-f0-9]{12}")
_BIC = re.compile(r"[A-Z0-9]{4}[A-Z]{2}[A-Z0-9]{2}(?:[A-Z0-9]{3})?")
_DATE_TIME = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]+)?(?:Z|[+-][0-9]{2}:[0-9]{2})?"
)

# Schema lengths (Max35Text, Max34Text, Max105Text, Max140Text).
_ID = 35
_ACCOUNT_ID = 34
_NAME = 140
_ADDITIONAL_INFO = 105
_UNSTRUCTURED = 140
_ADDITIONAL_INFO_LINES = 5


@dataclass(frozen=True)
class OriginalMessage:
    """The original message's group header, as the file gave it."""

    message_id: str  # GrpHdr/MsgId; a CSV upload has none: the batch's id stands in
    message_name: str  # "pain.001.001.03", "pain.001.001.09", or "CSV"
    created_at: str = ""  # GrpHdr/CreDtTm as written
    count: int | None = None  # GrpHdr/NbOfTxs
    control_sum: str | None = None  # GrpHdr/CtrlSum as written


@dataclass(frozen=True)
class StatusCount:
    status: str  # ACSC, RJCT, PDNG
    count: int
    control_sum: Decimal


@dataclass(frozen=True)
class BlockStatus:
    """One original PmtInf: what it held and how it fared (OrgnlPmtInfAndSts)."""

    payment_information_id: str  # a CSV upload has no PmtInf: the batch's id stands in
    count: int
    control_sum: Decimal | None
    status: str  # ACSC, PART, RJCT, PDNG
    per_status: tuple[StatusCount, ...] = ()


@dataclass(frozen=True)
class TransactionStatus:
    end_to_end_id: str  # "NOTPROVIDED" when the row had none
    status: str  # "ACSC", "RJCT" or "PDNG"
    reason_code: str = ""  # a DESIGN.md reason code (AC01, AM04, ...) when RJCT
    reason_text: str = ""
    instruction_id: str = ""  # PmtId/InstrId, "" when the file had none
    uetr: str = ""
    block: int | None = None  # the key of its BlockStatus; None for every CSV row
    amount: str = ""  # decimal string as the file wrote it
    currency: str = ""
    transfer_currency: str = ""  # set: the file's amount was EqvtAmt with this CcyOfTrf
    execution_date: date | None = None
    execution_datetime: datetime | None = None
    reference: str = ""  # RmtInf/Ustrd
    creditor_reference: str = ""
    creditor_reference_type: str = ""
    ultimate_debtor: str = ""
    debtor_account: str = ""
    creditor_agent_bic: str = ""
    creditor_name: str = ""
    creditor_account: str = ""
    ultimate_creditor: str = ""
    account_servicer_reference: str = ""  # the hub's payment id for the row, when paid
    creditor_address: dict | None = None  # iso20022.addresses dict, echoed as Cdtr/PstlAdr
    # A StsRsnInf of its own with only AddtlInf (Verification of Payee's result, for one).
    additional_info: str = ""


def write_pain002(
    out: BinaryIO,
    *,
    version: str = DEFAULT_VERSION,
    message_id: str,
    created_at: datetime,
    original: OriginalMessage,
    group_status: str,
    group_reason_code: str = "",
    group_reason_text: str = "",
    group_per_status: Iterable[StatusCount] = (),
    blocks: Mapping[int | None, BlockStatus] | None = None,
    transactions: Iterable[TransactionStatus] = (),
) -> None:
    """Write a CustomerPaymentStatusReport to `out`, pulling `transactions` as it goes.

    `transactions` come in file order; consecutive ones with the same `block` go under that
    block's OrgnlPmtInfAndSts. A file rejected as a whole (`group_status` RJCT with a reason)
    reports no transactions, as DESIGN.md says; `transactions` is then not iterated at all.
    """
    if version not in VERSIONS:
        raise ValueError(f"invalid pain.002 input: version {version!r}")
    _require(_CODE.fullmatch(group_status), f"group status {group_status!r}")
    _require(not group_reason_code or _CODE.fullmatch(group_reason_code), "group reason code")
    _require(original.count is None or original.count >= 0, "original count")
    _require(
        original.control_sum is None or _is_decimal(_CONTROL_SUM, original.control_sum),
        f"original control sum {original.control_sum!r}",
    )
    writer = _Writer(version, XmlWriter(out))
    # MsgId and OrgnlMsgId may not be empty.
    message_id = _text(message_id, _ID) or "NOTPROVIDED"
    file_rejected = group_status == "RJCT" and bool(group_reason_code)
    with writer.xml.element("Document", xmlns=writer.namespace):
        with writer.element("CstmrPmtStsRpt"):
            with writer.element("GrpHdr"):
                writer.leaf("MsgId", message_id)
                writer.leaf("CreDtTm", created_at.isoformat(timespec="seconds"))
            with writer.element("OrgnlGrpInfAndSts"):
                writer.leaf("OrgnlMsgId", _text(original.message_id, _ID) or "NOTPROVIDED")
                writer.leaf("OrgnlMsgNmId", _text(original.message_name, _ID) or "UNKNOWN")
                if _DATE_TIME.fullmatch(original.created_at):
                    writer.leaf("OrgnlCreDtTm", original.created_at)
                if original.count is not None:
                    writer.leaf("OrgnlNbOfTxs", str(original.count))
                if original.control_sum is not None:
                    writer.leaf("OrgnlCtrlSum", original.control_sum)
                writer.leaf("GrpSts", group_status)
                if group_reason_code or group_reason_text:
                    writer.status_reason(group_reason_code, group_reason_text)
                if not file_rejected:
                    writer.per_status(group_per_status)
            if not file_rejected:
                writer.transactions(blocks or {}, transactions)
    writer.xml.flush()


class _Writer:
    def __init__(self, version: str, xml: XmlWriter) -> None:
        self.version = version
        self.v10 = version == "pain.002.001.10"
        self.namespace = f"urn:iso:std:iso:20022:tech:xsd:{version}"
        self.xml = xml
        self.element = xml.element
        self.leaf = xml.leaf

    def status_reason(self, code: str, text: str) -> None:
        self.xml.raw(self.status_reason_text(code, text))

    def status_reason_text(self, code: str, text: str) -> str:
        parts = ["<StsRsnInf>"]
        if code:
            parts.append(f"<Rsn><Cd>{escape(code)}</Cd></Rsn>")
        for line in _lines(_text(text, _ADDITIONAL_INFO * _ADDITIONAL_INFO_LINES)):
            parts.append(f"<AddtlInf>{escape(line)}</AddtlInf>")
        parts.append("</StsRsnInf>")
        return "".join(parts)

    def per_status(self, counts: Iterable[StatusCount]) -> None:
        for count in counts:
            with self.element("NbOfTxsPerSts"):
                self.leaf("DtldNbOfTxs", str(count.count))
                self.leaf("DtldSts", count.status)
                if (total := _decimal_text(count.control_sum)) is not None:
                    self.leaf("DtldCtrlSum", total)

    def transactions(
        self, blocks: Mapping[int | None, BlockStatus], transactions: Iterable[TransactionStatus]
    ) -> None:
        # groupby pulls lazily, so the transactions still stream one by one.
        for key, group in groupby(transactions, key=lambda transaction: transaction.block):
            block = blocks.get(key)
            with self.element("OrgnlPmtInfAndSts"):
                identifier = _text(block.payment_information_id, _ID) if block else ""
                self.leaf("OrgnlPmtInfId", identifier or "NOTPROVIDED")
                if block is not None:
                    self.leaf("OrgnlNbOfTxs", str(block.count))
                    if (total := _decimal_text(block.control_sum)) is not None:
                        self.leaf("OrgnlCtrlSum", total)
                    _require(_CODE.fullmatch(block.status), f"block status {block.status!r}")
                    self.leaf("PmtInfSts", block.status)
                    self.per_status(block.per_status)
                for transaction in group:
                    self.transaction(transaction)

    def transaction(self, transaction: TransactionStatus) -> None:
        """One TxInfAndSts, written as one string: a 100,000-row report has two million
        elements, and a call per element was most of its time (the same bytes)."""
        _require(_CODE.fullmatch(transaction.status), f"transaction status {transaction.status!r}")
        _require(
            not transaction.reason_code or _CODE.fullmatch(transaction.reason_code),
            f"reason code {transaction.reason_code!r}",
        )
        parts = ["<TxInfAndSts>"]
        if instruction_id := _text(transaction.instruction_id, _ID):
            parts.append(f"<OrgnlInstrId>{escape(instruction_id)}</OrgnlInstrId>")
        end_to_end = escape(_text(transaction.end_to_end_id, _ID) or "NOTPROVIDED")
        parts.append(f"<OrgnlEndToEndId>{end_to_end}</OrgnlEndToEndId>")
        if self.v10 and _UUID4.fullmatch(transaction.uetr):
            parts.append(f"<OrgnlUETR>{escape(transaction.uetr)}</OrgnlUETR>")
        parts.append(f"<TxSts>{escape(transaction.status)}</TxSts>")
        if transaction.status == "RJCT" and (transaction.reason_code or transaction.reason_text):
            parts.append(self.status_reason_text(transaction.reason_code, transaction.reason_text))
        if transaction.additional_info.strip():
            parts.append(self.status_reason_text("", transaction.additional_info))
        if reference := _text(transaction.account_servicer_reference, _ID):
            parts.append(f"<AcctSvcrRef>{escape(reference)}</AcctSvcrRef>")
        self.original_reference(parts, transaction)
        parts.append("</TxInfAndSts>")
        self.xml.raw("".join(parts))

    def original_reference(self, parts: list[str], transaction: TransactionStatus) -> None:
        amount = transaction.amount.strip()
        currency = transaction.currency.strip()
        # The original amount is echoed only when the schema can carry it: an unreadable or
        # negative amount (a rejected row's) is left out, and its reason text says why.
        has_amount = _is_decimal(_AMOUNT, amount) and bool(_CURRENCY.fullmatch(currency))
        transfer_currency = transaction.transfer_currency.strip()
        equivalent = has_amount and bool(_CURRENCY.fullmatch(transfer_currency))
        reference = _text(transaction.reference, _UNSTRUCTURED * 10)
        creditor_reference = _text(transaction.creditor_reference, _ID)
        if creditor_reference and reference == creditor_reference:
            reference = ""  # the row's reference fell back to the structured one
        parties = [
            ("UltmtDbtr", _text(transaction.ultimate_debtor, _NAME)),
            ("DbtrAcct", _text(transaction.debtor_account, _ACCOUNT_ID)),
            (
                "CdtrAgt",
                transaction.creditor_agent_bic
                if _BIC.fullmatch(transaction.creditor_agent_bic)
                else "",
            ),
            ("Cdtr", _text(transaction.creditor_name, _NAME)),
            ("CdtrAcct", _text(transaction.creditor_account, _ACCOUNT_ID)),
            ("UltmtCdtr", _text(transaction.ultimate_creditor, _NAME)),
        ]
        when = transaction.execution_datetime or transaction.execution_date
        address = transaction.creditor_address
        if not (
            has_amount
            or when
            or reference
            or creditor_reference
            or address
            or any(v for _, v in parties)
        ):
            return
        parts.append("<OrgnlTxRef>")
        if has_amount:
            ccy, text = attribute(currency), escape(amount)
            if equivalent:
                parts.append(
                    f'<Amt><EqvtAmt><Amt Ccy="{ccy}">{text}</Amt>'
                    f"<CcyOfTrf>{escape(transfer_currency)}</CcyOfTrf></EqvtAmt></Amt>"
                )
            else:
                parts.append(f'<Amt><InstdAmt Ccy="{ccy}">{text}</InstdAmt></Amt>')
        if when is not None:
            parts.append(self.execution_date(transaction))
        if reference or creditor_reference:
            parts.append("<RmtInf>")
            for line in _chunks(reference, _UNSTRUCTURED):
                parts.append(f"<Ustrd>{escape(line)}</Ustrd>")
            if creditor_reference:
                reference_type = _text(transaction.creditor_reference_type, _ID)
                parts.append(creditor_reference_markup(reference_type, creditor_reference))
            parts.append("</RmtInf>")
        for tag, value in parties:
            if tag == "Cdtr" and (value or address):
                parts.append(self.party(tag, value, address))
                continue
            if not value:
                continue
            if tag in ("DbtrAcct", "CdtrAcct"):
                parts.append(f"<{tag}>{account_id_markup(value)}</{tag}>")
            elif tag == "CdtrAgt":
                bic = "BICFI" if self.v10 else "BIC"
                parts.append(
                    f"<CdtrAgt><FinInstnId><{bic}>{escape(value)}</{bic}></FinInstnId></CdtrAgt>"
                )
            else:
                parts.append(self.party(tag, value))
        parts.append("</OrgnlTxRef>")

    def execution_date(self, transaction: TransactionStatus) -> str:
        if not self.v10:
            # .03's ReqdExctnDt is a date only.
            moment = transaction.execution_datetime
            day = moment.date() if moment is not None else transaction.execution_date
            assert day is not None
            return f"<ReqdExctnDt>{day.isoformat()}</ReqdExctnDt>"
        if transaction.execution_datetime is not None:
            return f"<ReqdExctnDt><DtTm>{transaction.execution_datetime.isoformat()}</DtTm></ReqdExctnDt>"
        assert transaction.execution_date is not None
        return f"<ReqdExctnDt><Dt>{transaction.execution_date.isoformat()}</Dt></ReqdExctnDt>"

    def party(self, tag: str, name: str, address: dict | None = None) -> str:
        # .10 wraps a party in a choice of party or agent (Party40Choice); .03 does not. Its
        # address as structured elements: PostalAddress24 in .10, PostalAddress6 in .03.
        party = f"<Nm>{escape(name)}</Nm>" if name else ""
        party += postal_address_markup(address, version6=not self.v10)
        if self.v10:
            return f"<{tag}><Pty>{party}</Pty></{tag}>"
        return f"<{tag}>{party}</{tag}>"


def _decimal_text(value: Decimal | None) -> str | None:
    if value is None:
        return None
    text = format(value, "f")
    return text if _is_decimal(_CONTROL_SUM, text) else None


def _text(value: str, limit: int) -> str:
    # Cutting keeps the report schema-valid: a longer id (a CSV file's end_to_end_id can be)
    # could not be echoed in full by any pain.002 anyway.
    return _NOT_XML.sub("\ufffd", value.strip())[:limit].strip()


def _lines(text: str) -> list[str]:
    return [text[i : i + _ADDITIONAL_INFO] for i in range(0, len(text), _ADDITIONAL_INFO)]


def _chunks(text: str, size: int) -> list[str]:
    return [chunk for i in range(0, len(text), size) if (chunk := text[i : i + size].strip())]


def _is_decimal(pattern: re.Pattern[str], text: str) -> bool:
    digits = len(text) - text.count(".") - text.count("-")
    return bool(pattern.fullmatch(text)) and digits <= _TOTAL_DIGITS


def _require(condition: object, what: str) -> None:
    if not condition:
        raise ValueError(f"invalid pain.002 input: {what}")
