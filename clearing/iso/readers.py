"""What the hub reads out of a validated document (validation.validate gives the root)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from lxml import etree


def _path(root: etree._Element, path: str) -> str:
    """`path` (slash-separated local names below the root) in the root's namespace, as
    ElementPath takes it (which keeps the compiled path: no XPath compiled per read)."""
    namespace = etree.QName(root).namespace or ""
    return "/".join(f"{{{namespace}}}{step}" for step in path.split("/"))


def _text(root: etree._Element, path: str) -> str:
    """The text at `path`, stripped, or ""."""
    node = root.find(_path(root, path))
    return "" if node is None else (node.text or "").strip()


def _attr(root: etree._Element, path: str, name: str) -> str:
    node = root.find(_path(root, path))
    return "" if node is None else str(node.get(name, ""))


def _count(root: etree._Element, path: str) -> int:
    return len(root.findall(_path(root, path)))


@dataclass(frozen=True)
class IncomingTransfer:
    msg_id: str
    created_at: datetime
    transactions: int
    instructing_agent: str
    instructed_agent: str
    uetr: uuid.UUID | None
    end_to_end_id: str
    instruction_id: str
    amount: str  # decimal string, as written
    currency: str
    accepted_at: datetime | None
    debtor_name: str
    debtor_iban: str
    debtor_agent: str
    creditor_agent: str
    creditor_name: str
    creditor_iban: str
    remittance: str


def _when(text: str) -> datetime | None:
    if not text:
        return None
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if moment.tzinfo is None:  # ISODateTime without offset: read as UTC
        from datetime import UTC

        moment = moment.replace(tzinfo=UTC)
    return moment


def pacs008(root: etree._Element) -> IncomingTransfer:
    tx = "FIToFICstmrCdtTrf/CdtTrfTxInf"
    uetr = _text(root, f"{tx}/PmtId/UETR")
    return IncomingTransfer(
        msg_id=_text(root, "FIToFICstmrCdtTrf/GrpHdr/MsgId"),
        created_at=_when(_text(root, "FIToFICstmrCdtTrf/GrpHdr/CreDtTm")),  # type: ignore[arg-type]
        transactions=_count(root, tx),
        instructing_agent=_text(root, "FIToFICstmrCdtTrf/GrpHdr/InstgAgt/FinInstnId/BICFI")
        or _text(root, f"{tx}/InstgAgt/FinInstnId/BICFI"),
        instructed_agent=_text(root, "FIToFICstmrCdtTrf/GrpHdr/InstdAgt/FinInstnId/BICFI")
        or _text(root, f"{tx}/InstdAgt/FinInstnId/BICFI"),
        uetr=uuid.UUID(uetr) if uetr else None,
        end_to_end_id=_text(root, f"{tx}/PmtId/EndToEndId"),
        instruction_id=_text(root, f"{tx}/PmtId/InstrId"),
        amount=_text(root, f"{tx}/IntrBkSttlmAmt"),
        currency=_attr(root, f"{tx}/IntrBkSttlmAmt", "Ccy"),
        accepted_at=_when(_text(root, f"{tx}/AccptncDtTm")),
        debtor_name=_text(root, f"{tx}/Dbtr/Nm"),
        debtor_iban=_text(root, f"{tx}/DbtrAcct/Id/IBAN"),
        debtor_agent=_text(root, f"{tx}/DbtrAgt/FinInstnId/BICFI"),
        creditor_agent=_text(root, f"{tx}/CdtrAgt/FinInstnId/BICFI"),
        creditor_name=_text(root, f"{tx}/Cdtr/Nm"),
        creditor_iban=_text(root, f"{tx}/CdtrAcct/Id/IBAN")
        or _text(root, f"{tx}/CdtrAcct/Id/Othr/Id"),
        remittance=_text(root, f"{tx}/RmtInf/Ustrd"),
    )


@dataclass(frozen=True)
class StatusReport:
    msg_id: str
    original_msg_id: str
    uetr: uuid.UUID | None
    status: str  # ACSC, RJCT, ...
    reason_code: str
    transactions: int


def pacs002(root: etree._Element) -> StatusReport:
    tx = "FIToFIPmtStsRpt/TxInfAndSts"
    uetr = _text(root, f"{tx}/OrgnlUETR")
    return StatusReport(
        msg_id=_text(root, "FIToFIPmtStsRpt/GrpHdr/MsgId"),
        original_msg_id=_text(root, "FIToFIPmtStsRpt/OrgnlGrpInfAndSts/OrgnlMsgId"),
        uetr=uuid.UUID(uetr) if uetr else None,
        status=_text(root, f"{tx}/TxSts"),
        reason_code=_text(root, f"{tx}/StsRsnInf/Rsn/Cd"),
        transactions=_count(root, tx),
    )


def msg_id(root: etree._Element) -> str:
    """The MsgId of any supported document (its first GrpHdr or Assgnmt id)."""
    namespace = etree.QName(root).namespace or ""
    found = root.xpath("./*/n:GrpHdr/n:MsgId | ./*/n:Assgnmt/n:Id", namespaces={"n": namespace})
    return (found[0].text or "").strip() if found else ""


@dataclass(frozen=True)
class PaymentReturn:
    msg_id: str
    transactions: int
    uetr: uuid.UUID | None
    amount: str
    currency: str
    reason_code: str


def pacs004(root: etree._Element) -> PaymentReturn:
    tx = "PmtRtr/TxInf"
    uetr = _text(root, f"{tx}/OrgnlUETR")
    return PaymentReturn(
        msg_id=_text(root, "PmtRtr/GrpHdr/MsgId"),
        transactions=_count(root, tx),
        uetr=uuid.UUID(uetr) if uetr else None,
        amount=_text(root, f"{tx}/RtrdIntrBkSttlmAmt"),
        currency=_attr(root, f"{tx}/RtrdIntrBkSttlmAmt", "Ccy"),
        reason_code=_text(root, f"{tx}/RtrRsnInf/Rsn/Cd"),
    )


@dataclass(frozen=True)
class CaseMessage:
    """A camt.056 (recall) or camt.029 (its refusal), as far as the hub reads them."""

    msg_id: str
    case_id: str
    transactions: int
    uetr: uuid.UUID | None
    reason_code: str
    status: str  # camt.029: RJCR


def camt056(root: etree._Element) -> CaseMessage:
    tx = "FIToFIPmtCxlReq/Undrlyg/TxInf"
    uetr = _text(root, f"{tx}/OrgnlUETR")
    return CaseMessage(
        msg_id=_text(root, "FIToFIPmtCxlReq/Assgnmt/Id"),
        case_id=_text(root, "FIToFIPmtCxlReq/Case/Id"),
        transactions=_count(root, tx),
        uetr=uuid.UUID(uetr) if uetr else None,
        reason_code=_text(root, f"{tx}/CxlRsnInf/Rsn/Cd"),
        status="",
    )


def camt029(root: etree._Element) -> CaseMessage:
    tx = "RsltnOfInvstgtn/CxlDtls/TxInfAndSts"
    uetr = _text(root, f"{tx}/OrgnlUETR")
    return CaseMessage(
        msg_id=_text(root, "RsltnOfInvstgtn/Assgnmt/Id"),
        case_id=_text(root, "RsltnOfInvstgtn/RslvdCase/Id"),
        transactions=_count(root, tx),
        uetr=uuid.UUID(uetr) if uetr else None,
        reason_code=_text(root, f"{tx}/CxlStsRsnInf/Rsn/Cd"),
        status=_text(root, f"{tx}/TxCxlSts") or _text(root, "RsltnOfInvstgtn/Sts/Conf"),
    )
