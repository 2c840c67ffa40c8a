"""pacs.028.001.03, the FI to FI payment status request: "what became of this transfer?"
Its writer and its reader (validation.py checks it against its schema, as every document).

The answer is the pacs.002.001.10 the receiver gave the transfer (builders.pacs002)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from lxml import etree

from clearing.iso import builders, readers

PACS028 = "pacs.028.001.03"


@dataclass(frozen=True)
class StatusRequest:
    msg_id: str
    created_at: datetime
    sender: str  # BIC of the bank asking (the transfer's sender)
    receiver: str
    original_msg_id: str  # the pacs.008's MsgId
    original_created_at: datetime  # and its CreDtTm (its acceptance time)
    uetr: uuid.UUID
    end_to_end_id: str
    instruction_id: str


def pacs028(request: StatusRequest) -> bytes:
    E = builders._maker(PACS028)
    document = E.Document(
        E.FIToFIPmtStsReq(
            E.GrpHdr(
                E.MsgId(request.msg_id),
                E.CreDtTm(builders.timestamp(request.created_at)),
                builders._agent(E, "InstgAgt", request.sender),
                builders._agent(E, "InstdAgt", request.receiver),
            ),
            E.TxInf(
                E.StsReqId(request.msg_id),
                E.OrgnlGrpInf(
                    E.OrgnlMsgId(request.original_msg_id),
                    E.OrgnlMsgNmId(builders.PACS008),
                    E.OrgnlCreDtTm(builders.timestamp(request.original_created_at)),
                ),
                *([E.OrgnlInstrId(request.instruction_id)] if request.instruction_id else []),
                E.OrgnlEndToEndId(request.end_to_end_id or "NOTPROVIDED"),
                E.OrgnlUETR(str(request.uetr)),
            ),
        )
    )
    return etree.tostring(document, xml_declaration=True, encoding="UTF-8")


@dataclass(frozen=True)
class IncomingStatusRequest:
    msg_id: str
    transactions: int
    uetr: uuid.UUID | None
    original_msg_id: str
    original_kind: str
    end_to_end_id: str
    instruction_id: str
    instructing_agent: str


def read(root: etree._Element) -> IncomingStatusRequest:
    tx = "FIToFIPmtStsReq/TxInf"
    uetr = readers._text(root, f"{tx}/OrgnlUETR")
    return IncomingStatusRequest(
        msg_id=readers._text(root, "FIToFIPmtStsReq/GrpHdr/MsgId"),
        transactions=readers._count(root, tx),
        uetr=uuid.UUID(uetr) if uetr else None,
        original_msg_id=readers._text(root, f"{tx}/OrgnlGrpInf/OrgnlMsgId")
        or readers._text(root, "FIToFIPmtStsReq/OrgnlGrpInf/OrgnlMsgId"),
        original_kind=readers._text(root, f"{tx}/OrgnlGrpInf/OrgnlMsgNmId")
        or readers._text(root, "FIToFIPmtStsReq/OrgnlGrpInf/OrgnlMsgNmId"),
        end_to_end_id=readers._text(root, f"{tx}/OrgnlEndToEndId"),
        instruction_id=readers._text(root, f"{tx}/OrgnlInstrId"),
        instructing_agent=readers._text(root, "FIToFIPmtStsReq/GrpHdr/InstgAgt/FinInstnId/BICFI"),
    )
