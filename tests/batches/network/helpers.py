"""A pain.001 to other banks' customers (with creditor postal addresses), its batch approved,
the outbox run as a worker runs it, and the pain.002 read back."""

from __future__ import annotations

import io

from django.utils import timezone
from lxml import etree

from accounts.identity.audit import Actor
from batches import reports, services
from batches.models import Batch, BatchItem
from outbox.models import OutboxJob
from tests.helpers import fresh_code

NS = {"p": "urn:iso:std:iso:20022:tech:xsd:pain.002.001.10"}


def tx(n: int, account: str, amount: str, town: str = "Paris", country: str = "FR") -> str:
    """A credit transfer with the creditor's postal address (town and country: BE04)."""
    account_id = (
        f"<IBAN>{account}</IBAN>"
        if account[:2].isalpha() and account[2:4].isdigit()
        else (f"<Othr><Id>{account}</Id></Othr>")
    )
    return (
        f"<CdtTrfTxInf><PmtId><InstrId>I-{n}</InstrId><EndToEndId>E2E-{n}</EndToEndId></PmtId>"
        f'<Amt><InstdAmt Ccy="EUR">{amount}</InstdAmt></Amt>'
        f"<Cdtr><Nm>Payee {n}</Nm><PstlAdr><TwnNm>{town}</TwnNm><Ctry>{country}</Ctry></PstlAdr>"
        f"</Cdtr><CdtrAcct><Id>{account_id}</Id></CdtrAcct>"
        f"<RmtInf><Ustrd>Salary {n}</Ustrd></RmtInf></CdtTrfTxInf>"
    )


def pain001(debtor: str, rows: list[tuple[str, str]], msg_id: str = "NET-1") -> bytes:
    """A pain.001.001.09: one PmtInf from `debtor`, a transaction per (account, amount)."""
    today = timezone.localdate().isoformat()
    transactions = "".join(
        tx(n, account, amount) for n, (account, amount) in enumerate(rows, start=1)
    )
    total = sum(float(amount) for _, amount in rows)
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<Document xmlns="urn:iso:std:iso:20022:tech:xsd:pain.001.001.09"><CstmrCdtTrfInitn>'
        f"<GrpHdr><MsgId>{msg_id}</MsgId><CreDtTm>{today}T08:00:00</CreDtTm>"
        f"<NbOfTxs>{len(rows)}</NbOfTxs><CtrlSum>{total:.2f}</CtrlSum>"
        "<InitgPty><Nm>Payroll Co</Nm></InitgPty></GrpHdr>"
        f"<PmtInf><PmtInfId>PAY-1</PmtInfId><PmtMtd>TRF</PmtMtd><NbOfTxs>{len(rows)}</NbOfTxs>"
        f"<ReqdExctnDt><Dt>{today}</Dt></ReqdExctnDt><Dbtr><Nm>Payroll Co</Nm></Dbtr>"
        f"<DbtrAcct><Id><Othr><Id>{debtor}</Id></Othr></Id></DbtrAcct>"
        "<DbtrAgt><FinInstnId><BICFI>COBADEFFXXX</BICFI></FinInstnId></DbtrAgt>"
        f"{transactions}</PmtInf></CstmrCdtTrfInitn></Document>"
    ).encode()


def validated(desk, rows, msg_id="NET-1") -> Batch:
    batch = desk.upload(
        pain001(desk.account.number, rows, msg_id), name=f"{msg_id}.xml", debtor_account_number=""
    )
    return services.batch_validate(batch_id=batch.id)


def approved(desk, rows, msg_id="NET-1") -> Batch:
    batch = validated(desk, rows, msg_id)
    assert batch.status == Batch.Status.AWAITING_APPROVAL, batch.error_message
    return services.batch_approve(
        batch_id=batch.id,
        approver=desk.checker,
        actor=Actor.for_user(desk.checker),
        otp_token=fresh_code(desk.checker),
    )


def run_outbox() -> None:
    """Every due outbox job, as a worker runs them: a job that raises is due again later."""
    from outbox import services as outbox

    due = OutboxJob.objects.filter(done_at__isnull=True, due_at__lte=timezone.now())
    for outbox_id in due.values_list("id", flat=True):
        try:
            outbox.run(outbox_id)
        except Exception:  # noqa: BLE001, S110 - recorded on the row, as a worker leaves it
            pass


def rows_of(batch: Batch) -> dict[int, BatchItem]:
    return {item.row: item for item in batch.items.all()}


def pain002(batch: Batch) -> etree._Element:
    out = io.BytesIO()
    reports.write_result_xml(batch, out)
    return etree.fromstring(out.getvalue())


def statuses(document: etree._Element) -> dict[str, tuple[str, str]]:
    found = {}
    for tx_status in document.iterfind(".//p:TxInfAndSts", NS):
        reason = tx_status.findtext("p:StsRsnInf/p:Rsn/p:Cd", default="", namespaces=NS)
        found[tx_status.findtext("p:OrgnlEndToEndId", namespaces=NS)] = (
            tx_status.findtext("p:TxSts", namespaces=NS),
            reason,
        )
    return found
