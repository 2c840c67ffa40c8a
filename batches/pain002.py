"""The ISO 20022 pain.002.001.10 status report for a batch: group status, then each row's.

Written incrementally with lxml's xmlfile, so 100,000 transactions take constant memory; every
value goes through lxml, cleaned of characters XML cannot carry and cut to the schema's lengths.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from itertools import groupby
from typing import TYPE_CHECKING, BinaryIO

from lxml import etree

if TYPE_CHECKING:
    # What xmlfile() yields: a name of the stubs (types-lxml) only, not of lxml.etree.
    from lxml.etree._serializer import _IncrementalFileWriter

NAMESPACE = "urn:iso:std:iso:20022:tech:xsd:pain.002.001.10"
_NS = "{" + NAMESPACE + "}"

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

# Schema lengths (Max35Text, Max34Text, Max105Text, Max140Text).
_ID = 35
_ACCOUNT_ID = 34
_ADDITIONAL_INFO = 105
_UNSTRUCTURED = 140
_ADDITIONAL_INFO_LINES = 5


@dataclass(frozen=True)
class TransactionStatus:
    end_to_end_id: str  # "NOTPROVIDED" when the row had none
    instruction_id: str  # the row number, as text
    status: str  # "ACSC" or "RJCT"
    reason_code: str = ""  # a DESIGN.md reason code (AC01, AM04, ...) when RJCT
    reason_text: str = ""
    amount: str = ""  # decimal string
    currency: str = ""
    creditor_account: str = ""
    reference: str = ""  # echoed as OrgnlTxRef/RmtInf/Ustrd
    # Groups consecutive transactions under one OrgnlPmtInfAndSts; "" files them under the
    # original message id (CSV has no payment information blocks).
    payment_information_id: str = ""


def write_pain002(
    out: BinaryIO,
    *,
    message_id: str,
    created_at: datetime,
    original_message_id: str,
    original_message_name: str,
    group_status: str,
    group_reason_code: str = "",
    group_reason_text: str = "",
    original_count: int,
    original_control_sum: str | None,
    transactions: Iterable[TransactionStatus],
) -> None:
    """Write a CustomerPaymentStatusReport to `out`, pulling `transactions` as it goes.

    A file rejected as a whole (`group_status` RJCT with a reason) reports no transactions,
    as DESIGN.md says; `transactions` is then not iterated at all.
    """
    _require(_CODE.fullmatch(group_status), f"group status {group_status!r}")
    _require(not group_reason_code or _CODE.fullmatch(group_reason_code), "group reason code")
    _require(original_count >= 0, "original_count")
    _require(
        original_control_sum is None or _is_decimal(_CONTROL_SUM, original_control_sum),
        f"original control sum {original_control_sum!r}",
    )
    # MsgId and OrgnlMsgId may not be empty; a CSV upload has no MsgId of its own.
    message_id = _text(message_id, _ID) or "NOTPROVIDED"
    original_message_id = _text(original_message_id, _ID) or "NOTPROVIDED"
    file_rejected = group_status == "RJCT" and bool(group_reason_code)
    with etree.xmlfile(out, encoding="utf-8") as xf:
        xf.write_declaration()
        with xf.element(_NS + "Document", nsmap={None: NAMESPACE}):
            with xf.element(_NS + "CstmrPmtStsRpt"):
                with xf.element(_NS + "GrpHdr"):
                    _leaf(xf, "MsgId", message_id)
                    _leaf(xf, "CreDtTm", created_at.isoformat(timespec="seconds"))
                with xf.element(_NS + "OrgnlGrpInfAndSts"):
                    _leaf(xf, "OrgnlMsgId", original_message_id)
                    _leaf(xf, "OrgnlMsgNmId", _text(original_message_name, _ID))
                    _leaf(xf, "OrgnlNbOfTxs", str(original_count))
                    if original_control_sum is not None:
                        _leaf(xf, "OrgnlCtrlSum", original_control_sum)
                    _leaf(xf, "GrpSts", group_status)
                    if group_reason_code:
                        _status_reason(xf, group_reason_code, group_reason_text)
                if not file_rejected:
                    _transactions(xf, original_message_id, transactions)


def _transactions(
    xf: _IncrementalFileWriter,
    original_message_id: str,
    transactions: Iterable[TransactionStatus],
) -> None:
    def block_of(transaction: TransactionStatus) -> str:
        return _text(transaction.payment_information_id, _ID) or original_message_id

    # groupby pulls lazily, so the transactions still stream one by one.
    for block_id, block in groupby(transactions, key=block_of):
        with xf.element(_NS + "OrgnlPmtInfAndSts"):
            _leaf(xf, "OrgnlPmtInfId", block_id)
            for transaction in block:
                _transaction(xf, transaction)


def _transaction(xf: _IncrementalFileWriter, transaction: TransactionStatus) -> None:
    _require(_CODE.fullmatch(transaction.status), f"transaction status {transaction.status!r}")
    rejected = transaction.status == "RJCT"
    _require(
        not transaction.reason_code or _CODE.fullmatch(transaction.reason_code),
        f"reason code {transaction.reason_code!r}",
    )
    with xf.element(_NS + "TxInfAndSts"):
        if instruction_id := _text(transaction.instruction_id, _ID):
            _leaf(xf, "OrgnlInstrId", instruction_id)
        _leaf(xf, "OrgnlEndToEndId", _text(transaction.end_to_end_id, _ID) or "NOTPROVIDED")
        _leaf(xf, "TxSts", transaction.status)
        if rejected and (transaction.reason_code or transaction.reason_text):
            _status_reason(xf, transaction.reason_code, transaction.reason_text)
        amount = transaction.amount.strip()
        currency = transaction.currency.strip()
        # The original amount is echoed only when the schema can carry it: an unreadable or
        # negative amount (a rejected row's) is left out, and its reason text says why.
        has_amount = _is_decimal(_AMOUNT, amount) and bool(_CURRENCY.fullmatch(currency))
        reference = _text(transaction.reference, _UNSTRUCTURED)
        account = _text(transaction.creditor_account, _ACCOUNT_ID)
        if not (has_amount or reference or account):
            return
        with xf.element(_NS + "OrgnlTxRef"):
            if has_amount:
                with xf.element(_NS + "Amt"):
                    _leaf(xf, "InstdAmt", amount, Ccy=currency)
            if reference:
                with xf.element(_NS + "RmtInf"):
                    _leaf(xf, "Ustrd", reference)
            if account:
                with xf.element(_NS + "CdtrAcct"), xf.element(_NS + "Id"):
                    with xf.element(_NS + "Othr"):
                        _leaf(xf, "Id", account)


def _status_reason(xf: _IncrementalFileWriter, code: str, text: str) -> None:
    with xf.element(_NS + "StsRsnInf"):
        if code:
            with xf.element(_NS + "Rsn"):
                _leaf(xf, "Cd", code)
        for line in _lines(_text(text, _ADDITIONAL_INFO * _ADDITIONAL_INFO_LINES)):
            _leaf(xf, "AddtlInf", line)


def _leaf(xf: _IncrementalFileWriter, tag: str, text: str, **attributes: str) -> None:
    with xf.element(_NS + tag, attributes):
        xf.write(text)


def _text(value: str, limit: int) -> str:
    # Cutting keeps the report schema-valid: a longer id (a CSV file's end_to_end_id can be)
    # could not be echoed in full by any pain.002 anyway.
    return _NOT_XML.sub("\ufffd", value.strip())[:limit].strip()


def _lines(text: str) -> list[str]:
    return [text[i : i + _ADDITIONAL_INFO] for i in range(0, len(text), _ADDITIONAL_INFO)]


def _is_decimal(pattern: re.Pattern[str], text: str) -> bool:
    digits = len(text) - text.count(".") - text.count("-")
    return bool(pattern.fullmatch(text)) and digits <= _TOTAL_DIGITS


def _require(condition: object, what: str) -> None:
    if not condition:
        raise ValueError(f"invalid pain.002 input: {what}")
