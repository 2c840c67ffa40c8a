"""The documents this hub writes: SCT Inst pacs.008.001.08 and its pacs.002.001.10 answer.

Each builder returns the document's bytes; callers validate them (validation.py) before
they are stored or sent.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from lxml import etree
from lxml.builder import ElementMaker

from accounts.ledger import money
from iso20022 import addresses

PACS008 = "pacs.008.001.08"
PACS002 = "pacs.002.001.10"


# Structured address elements in the schema's order (PostalAddress24).
def new_msg_id() -> str:
    return uuid.uuid4().hex  # 32 characters: within Max35Text


def timestamp(moment: datetime) -> str:
    return moment.isoformat(timespec="milliseconds")


@dataclass(frozen=True)
class Transfer:
    """One SCT Inst credit transfer between two banks."""

    msg_id: str
    created_at: datetime  # also the acceptance time (AccptncDtTm): the time-out runs from it
    uetr: uuid.UUID
    end_to_end_id: str
    instruction_id: str
    amount: int  # minor units
    currency: str
    debtor_agent: str  # BIC of the sending bank
    creditor_agent: str  # BIC of the receiving bank
    debtor_name: str
    debtor_iban: str
    creditor_name: str
    creditor_iban: str
    creditor_address: dict[str, Any] = field(default_factory=dict)
    remittance: str = ""
    debtor_address: dict[str, Any] = field(default_factory=dict)


def _maker(kind: str) -> ElementMaker:
    namespace = f"urn:iso:std:iso:20022:tech:xsd:{kind}"
    return ElementMaker(namespace=namespace, nsmap={None: namespace})


def _agent(E: ElementMaker, tag: str, bic: str) -> etree._Element:
    return E(tag, E.FinInstnId(E.BICFI(bic)))


def _address(E: ElementMaker, address: dict[str, Any]) -> list[etree._Element]:
    parts = [E(tag, str(address[key])) for key, tag, _n in addresses.ELEMENTS if address.get(key)]
    lines = [E.AdrLine(str(line)) for line in (address.get(addresses.LINES) or [])[:2]]
    return [E.PstlAdr(*parts, *lines)] if parts or lines else []


def pacs008(transfer: Transfer) -> bytes:
    E = _maker(PACS008)
    amount = money.to_major(transfer.amount, transfer.currency)
    moment = timestamp(transfer.created_at)
    document = E.Document(
        E.FIToFICstmrCdtTrf(
            E.GrpHdr(
                E.MsgId(transfer.msg_id),
                E.CreDtTm(moment),
                E.NbOfTxs("1"),
                E.SttlmInf(E.SttlmMtd("CLRG")),
                _agent(E, "InstgAgt", transfer.debtor_agent),
                _agent(E, "InstdAgt", transfer.creditor_agent),
            ),
            E.CdtTrfTxInf(
                E.PmtId(
                    E.InstrId(transfer.instruction_id),
                    E.EndToEndId(transfer.end_to_end_id or "NOTPROVIDED"),
                    E.TxId(transfer.msg_id),
                    E.UETR(str(transfer.uetr)),
                ),
                E.PmtTpInf(E.SvcLvl(E.Cd("SEPA")), E.LclInstrm(E.Cd("INST"))),
                E.IntrBkSttlmAmt(amount, Ccy=transfer.currency),
                E.IntrBkSttlmDt(transfer.created_at.date().isoformat()),
                E.AccptncDtTm(moment),
                E.ChrgBr("SLEV"),
                E.Dbtr(
                    E.Nm(transfer.debtor_name[:140] or "NOTPROVIDED"),
                    *_address(E, transfer.debtor_address),
                ),
                E.DbtrAcct(E.Id(E.IBAN(transfer.debtor_iban))),
                _agent(E, "DbtrAgt", transfer.debtor_agent),
                _agent(E, "CdtrAgt", transfer.creditor_agent),
                E.Cdtr(
                    E.Nm(transfer.creditor_name[:140] or "NOTPROVIDED"),
                    *_address(E, transfer.creditor_address),
                ),
                E.CdtrAcct(E.Id(E.IBAN(transfer.creditor_iban))),
                *([E.RmtInf(E.Ustrd(transfer.remittance[:140]))] if transfer.remittance else []),
            ),
        )
    )
    return etree.tostring(document, xml_declaration=True, encoding="UTF-8")


@dataclass(frozen=True)
class Status:
    """A pacs.002's verdict on one transfer."""

    msg_id: str
    created_at: datetime
    sender: str  # BIC of the bank answering
    receiver: str
    original_msg_id: str
    original_kind: str
    uetr: uuid.UUID
    end_to_end_id: str
    instruction_id: str
    accepted: bool
    reason_code: str = ""


def pacs002(status: Status) -> bytes:
    E = _maker(PACS002)
    reason = (
        [E.StsRsnInf(E.Rsn(E.Cd(status.reason_code)))]
        if not status.accepted and status.reason_code
        else []
    )
    document = E.Document(
        E.FIToFIPmtStsRpt(
            E.GrpHdr(
                E.MsgId(status.msg_id),
                E.CreDtTm(timestamp(status.created_at)),
                _agent(E, "InstgAgt", status.sender),
                _agent(E, "InstdAgt", status.receiver),
            ),
            E.OrgnlGrpInfAndSts(
                E.OrgnlMsgId(status.original_msg_id), E.OrgnlMsgNmId(status.original_kind)
            ),
            E.TxInfAndSts(
                *([E.OrgnlInstrId(status.instruction_id)] if status.instruction_id else []),
                E.OrgnlEndToEndId(status.end_to_end_id or "NOTPROVIDED"),
                E.OrgnlUETR(str(status.uetr)),
                E.TxSts("ACSC" if status.accepted else "RJCT"),
                *reason,
            ),
        )
    )
    return etree.tostring(document, xml_declaration=True, encoding="UTF-8")


PACS004 = "pacs.004.001.09"


@dataclass(frozen=True)
class Return:
    """A pacs.004: the receiving bank sends a credited transfer back to its sender."""

    msg_id: str
    created_at: datetime
    sender: str  # BIC of the bank returning (the original creditor agent)
    receiver: str
    original_msg_id: str
    uetr: uuid.UUID
    end_to_end_id: str
    instruction_id: str
    amount: int
    currency: str
    reason_code: str


def pacs004(ret: Return) -> bytes:
    E = _maker(PACS004)
    amount = money.to_major(ret.amount, ret.currency)
    document = E.Document(
        E.PmtRtr(
            E.GrpHdr(
                E.MsgId(ret.msg_id),
                E.CreDtTm(timestamp(ret.created_at)),
                E.NbOfTxs("1"),
                E.SttlmInf(E.SttlmMtd("CLRG")),
                _agent(E, "InstgAgt", ret.sender),
                _agent(E, "InstdAgt", ret.receiver),
            ),
            E.TxInf(
                E.RtrId(ret.msg_id),
                E.OrgnlGrpInf(E.OrgnlMsgId(ret.original_msg_id), E.OrgnlMsgNmId(PACS008)),
                *([E.OrgnlInstrId(ret.instruction_id)] if ret.instruction_id else []),
                E.OrgnlEndToEndId(ret.end_to_end_id or "NOTPROVIDED"),
                E.OrgnlUETR(str(ret.uetr)),
                E.OrgnlIntrBkSttlmAmt(amount, Ccy=ret.currency),
                E.RtrdIntrBkSttlmAmt(amount, Ccy=ret.currency),
                E.IntrBkSttlmDt(ret.created_at.date().isoformat()),
                E.ChrgBr("SLEV"),
                E.RtrRsnInf(E.Rsn(E.Cd(ret.reason_code))),
            ),
        )
    )
    return etree.tostring(document, xml_declaration=True, encoding="UTF-8")


CAMT056 = "camt.056.001.08"
CAMT029 = "camt.029.001.09"


def _party_agent(E: ElementMaker, tag: str, bic: str) -> etree._Element:
    return E(tag, E.Agt(E.FinInstnId(E.BICFI(bic))))


@dataclass(frozen=True)
class Recall:
    """A camt.056 (the sender asks for a completed transfer back), or its camt.029 refusal."""

    msg_id: str
    created_at: datetime
    sender: str
    receiver: str
    case_id: str  # the camt.056's own id; its answer names it as the resolved case
    case_creator: str  # BIC of the bank that opened the case (the recall's sender)
    original_msg_id: str
    uetr: uuid.UUID
    end_to_end_id: str
    amount: int
    currency: str
    reason_code: str


def camt056(recall: Recall) -> bytes:
    E = _maker(CAMT056)
    document = E.Document(
        E.FIToFIPmtCxlReq(
            E.Assgnmt(
                E.Id(recall.msg_id),
                _party_agent(E, "Assgnr", recall.sender),
                _party_agent(E, "Assgne", recall.receiver),
                E.CreDtTm(timestamp(recall.created_at)),
            ),
            E.Case(E.Id(recall.case_id), _party_agent(E, "Cretr", recall.case_creator)),
            E.CtrlData(E.NbOfTxs("1")),
            E.Undrlyg(
                E.TxInf(
                    E.CxlId(recall.msg_id),
                    E.OrgnlGrpInf(E.OrgnlMsgId(recall.original_msg_id), E.OrgnlMsgNmId(PACS008)),
                    E.OrgnlEndToEndId(recall.end_to_end_id or "NOTPROVIDED"),
                    E.OrgnlUETR(str(recall.uetr)),
                    E.OrgnlIntrBkSttlmAmt(
                        money.to_major(recall.amount, recall.currency), Ccy=recall.currency
                    ),
                    E.CxlRsnInf(E.Rsn(E.Cd(recall.reason_code))),
                )
            ),
        )
    )
    return etree.tostring(document, xml_declaration=True, encoding="UTF-8")


# The status of a recall (CancellationIndividualStatus1Code): refused, or pending its
# investigation (the first answer to a camt.056; the final one follows).
REFUSED = "RJCR"
PENDING = "PDCR"


def camt029(answer: Recall, status: str = REFUSED) -> bytes:
    """A recall refused (RJCR with the reason) or pending (PDCR, no reason); an accepted
    recall is answered by a pacs.004."""
    E = _maker(CAMT029)
    document = E.Document(
        E.RsltnOfInvstgtn(
            E.Assgnmt(
                E.Id(answer.msg_id),
                _party_agent(E, "Assgnr", answer.sender),
                _party_agent(E, "Assgne", answer.receiver),
                E.CreDtTm(timestamp(answer.created_at)),
            ),
            E.RslvdCase(E.Id(answer.case_id), _party_agent(E, "Cretr", answer.case_creator)),
            E.Sts(E.Conf(status)),
            E.CxlDtls(
                E.TxInfAndSts(
                    E.CxlStsId(answer.msg_id),
                    E.OrgnlGrpInf(E.OrgnlMsgId(answer.original_msg_id), E.OrgnlMsgNmId(PACS008)),
                    E.OrgnlEndToEndId(answer.end_to_end_id or "NOTPROVIDED"),
                    E.OrgnlUETR(str(answer.uetr)),
                    E.TxCxlSts(status),
                    *(
                        [E.CxlStsRsnInf(E.Rsn(E.Cd(answer.reason_code)))]
                        if answer.reason_code
                        else []
                    ),
                )
            ),
        )
    )
    return etree.tostring(document, xml_declaration=True, encoding="UTF-8")
