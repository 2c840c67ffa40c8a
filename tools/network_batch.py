"""A batch to another bank's customers, run end to end on one hub: `bench_clearing
--batch-rows` and tests/e2e/test_clearing_two_hubs.py use it through `manage.py shell`.

`run` writes a pain.001 (creditor addresses included), uploads it as the merchant's maker,
validates it, approves it with as many approvers as it needs (bootstrap grants, fresh codes,
as bench_batch's people), then waits while the hub's worker executes it and the peer
answers; the time from the last approval to the batch's end is the figure. `report` reads the
batch's pain.002 back: every transaction's status and reason.
"""

from __future__ import annotations

import io
import time
from collections import Counter
from decimal import Decimal

from django.core.files.base import ContentFile
from django.utils import timezone
from lxml import etree

from accounts.identity import roles
from accounts.identity.audit import Actor
from accounts.ledger import services as ledger_services
from accounts.models import Account
from batches import reports, services
from batches.models import Batch
from tools import people

NS = {"p": "urn:iso:std:iso:20022:tech:xsd:pain.002.001.10"}


def pain001(*, debtor: str, rows: list[tuple[str, str]], msg_id: str) -> bytes:
    """A pain.001.001.09 from `debtor` (an IBAN): a transaction per (creditor IBAN, amount),
    each creditor with a postal address (town and country, the BE04 rule)."""
    today = timezone.localdate().isoformat()
    transactions = "".join(
        f"<CdtTrfTxInf><PmtId><EndToEndId>{msg_id}-{n}</EndToEndId></PmtId>"
        f'<Amt><InstdAmt Ccy="EUR">{amount}</InstdAmt></Amt>'
        f"<Cdtr><Nm>Payee {n}</Nm><PstlAdr><TwnNm>Town {n % 50}</TwnNm><Ctry>{iban[:2]}</Ctry>"
        f"</PstlAdr></Cdtr><CdtrAcct><Id><IBAN>{iban}</IBAN></Id></CdtrAcct>"
        f"<RmtInf><Ustrd>Payout {n}</Ustrd></RmtInf></CdtTrfTxInf>"
        for n, (iban, amount) in enumerate(rows, start=1)
    )
    total = sum((Decimal(amount) for _, amount in rows), Decimal(0))
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<Document xmlns="urn:iso:std:iso:20022:tech:xsd:pain.001.001.09"><CstmrCdtTrfInitn>'
        f"<GrpHdr><MsgId>{msg_id}</MsgId><CreDtTm>{today}T08:00:00</CreDtTm>"
        f"<NbOfTxs>{len(rows)}</NbOfTxs><CtrlSum>{total}</CtrlSum>"
        "<InitgPty><Nm>Network batch</Nm></InitgPty></GrpHdr>"
        f"<PmtInf><PmtInfId>{msg_id}-P</PmtInfId><PmtMtd>TRF</PmtMtd>"
        f"<NbOfTxs>{len(rows)}</NbOfTxs><ReqdExctnDt><Dt>{today}</Dt></ReqdExctnDt>"
        f"<Dbtr><Nm>Network batch</Nm></Dbtr><DbtrAcct><Id><IBAN>{debtor}</IBAN></Id></DbtrAcct>"
        "<DbtrAgt><FinInstnId><BICFI>COBADEFFXXX</BICFI></FinInstnId></DbtrAgt>"
        f"{transactions}</PmtInf></CstmrCdtTrfInitn></Document>"
    ).encode()


def run(*, debtor: str, rows: list[tuple[str, str]], msg_id: str, timeout: float = 600) -> dict:
    """Upload, validate and approve the batch, then wait for its end (a worker executes it)."""
    account = Account.objects.select_related("merchant").get(number=debtor)
    assert account.merchant is not None
    # A business customer's payout package: opted out of Verification of Payee for batches
    # (IPR Art. 5c allows it; audited), so validation does not ask the peer about each payee.
    ledger_services.merchant_set_vop_batch_opt_out(
        merchant_id=account.merchant.pk, opt_out=True, actor=Actor.system("network batch")
    )
    maker = people.person("network-maker", roles.OPERATOR, by="network batch")
    checkers = [
        people.person(f"network-checker{n}", roles.APPROVER, by="network batch") for n in (1, 2)
    ]
    batch = services.batch_upload(
        merchant=account.merchant,
        upload=ContentFile(pain001(debtor=debtor, rows=rows, msg_id=msg_id), name=f"{msg_id}.xml"),
        actor=Actor.for_user(maker),
        uploaded_by=maker,
    )
    batch = services.batch_validate(batch_id=batch.id)
    if batch.status != Batch.Status.AWAITING_APPROVAL:
        raise RuntimeError(f"validation ended {batch.status}: {batch.error_message}")
    for checker in checkers:  # as many approvers as the day's exposure asks for
        batch = services.batch_approve(
            batch_id=batch.id,
            approver=checker,
            confirm_mismatches=True,  # synthetic payee names: VoP mismatches, confirmed
            actor=Actor.for_user(checker),
            otp_token=people.fresh_code(checker),
        )
        if batch.status != Batch.Status.AWAITING_APPROVAL:
            break
    approved = time.perf_counter()
    deadline = approved + timeout
    while not batch.is_final and time.perf_counter() < deadline:
        time.sleep(0.2)
        batch.refresh_from_db()
    seconds = time.perf_counter() - approved
    return {
        "batch": str(batch.id),
        "status": batch.status,
        "rows": batch.item_count,
        "valid": batch.valid_count,
        "invalid": batch.invalid_count,
        "succeeded": batch.succeeded_count,
        "failed": batch.failed_count,
        "pending": batch.items.filter(status="pending").count(),
        "seconds": round(seconds, 2),
        "rows_per_s": round(batch.valid_count / seconds, 1) if batch.is_final else None,
    }


def report(batch_id: str) -> dict:
    """The batch's pain.002: its group status and each transaction's status and reason."""
    batch = Batch.objects.get(pk=batch_id)
    out = io.BytesIO()
    reports.write_result_xml(batch, out)
    document = etree.fromstring(out.getvalue())
    statuses = {}
    for transaction in document.iterfind(".//p:TxInfAndSts", NS):
        reason = transaction.findtext("p:StsRsnInf/p:Rsn/p:Cd", default="", namespaces=NS)
        end_to_end = transaction.findtext("p:OrgnlEndToEndId", namespaces=NS)
        statuses[end_to_end] = f"{transaction.findtext('p:TxSts', namespaces=NS)} {reason}".strip()
    return {
        "group_status": document.findtext(".//p:GrpSts", namespaces=NS),
        "counts": dict(Counter(statuses.values())),
        "transactions": statuses,
    }
