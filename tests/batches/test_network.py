"""A batch whose rows pay other banks' customers (issue 19, "batches through the network").

The other banks are real HTTP servers (tests/batches/network_peer.py) reached through the
hub's signed transport; the outbox's jobs run in this process, as a worker would run them.
"""

from __future__ import annotations

import pytest
from django.utils import timezone
from lxml import etree

from accounts.identity.audit import Actor
from accounts.ledger.selectors import ledger_verify
from batches import reports, services
from batches.models import Batch, BatchItem
from clearing import batched
from clearing import services as clearing_services
from clearing.models import Message
from outbox.models import OutboxJob
from payments.models import Payment
from tests.batches.network_peer import PeerServer
from tests.clearing.conftest import iban
from tests.helpers import fresh_code, otp_login

NS = {"p": "urn:iso:std:iso:20022:tech:xsd:pain.002.001.10"}


@pytest.fixture
def hub(settings, tmp_path):
    settings.CLEARING_KEY_FILE = tmp_path / "clearing_key"
    settings.CLEARING_KEY_ENCRYPTION_KEY = ""
    settings.CLEARING_MAX_IN_FLIGHT = 1  # sent on the test's own connection (see the last tests)
    return settings


@pytest.fixture
def desk(desk):
    """The desk's account with an IBAN: interbank messages name the debtor by it."""
    desk.account.number = iban("DE", "370400440532013000")
    desk.account.save(update_fields=["number"])
    return desk


@pytest.fixture
def paris(db, hub):
    bank = PeerServer(bic="PEERFRPPXXX", country="FR", bank_code="30006")
    yield bank
    bank.close()


@pytest.fixture
def brussels(db, hub):
    bank = PeerServer(bic="PEERBEBBXXX", country="BE", bank_code="539")
    yield bank
    bank.close()


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
    import io

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


# --- validation -------------------------------------------------------------------------------


def test_rows_to_other_banks_are_valid_and_name_their_bank_an_iban_no_one_serves_is_ac01(
    desk, paris
):
    nowhere = iban("NL", "ABNA0417164300")
    batch = validated(
        desk,
        [(desk.payees[0].number, "10.00"), (paris.customer(1), "20.00"), (nowhere, "30.00")],
    )

    rows = rows_of(batch)
    assert batch.valid_count == 2 and batch.invalid_count == 1
    assert rows[1].creditor_account_id == desk.payees[0].pk and rows[1].clearing is None
    assert rows[2].status == BatchItem.Status.VALID
    assert rows[2].creditor_account_id is None
    assert rows[2].clearing == {"peer_bic": paris.bic}
    assert (rows[3].status, rows[3].error_code) == (BatchItem.Status.INVALID, "AC01")
    assert rows[3].error_message == f"no bank on the network serves {nowhere}"
    assert batch.total_amount == 3000  # what the approver signs: both valid rows


def test_a_debtor_account_without_an_iban_cannot_pay_another_bank(desk, paris):
    desk.account.number = "PAYROLL0001"
    desk.account.save(update_fields=["number"])

    batch = validated(desk, [(desk.payees[0].number, "10.00"), (paris.customer(1), "20.00")])

    rows = rows_of(batch)
    assert rows[1].status == BatchItem.Status.VALID
    assert (rows[2].status, rows[2].error_code) == (BatchItem.Status.INVALID, "AC01")
    assert "has no IBAN" in rows[2].error_message


def test_the_batch_page_says_which_bank_a_row_goes_to(desk, paris, client):
    batch = validated(desk, [(desk.payees[0].number, "10.00"), (paris.customer(1), "20.00")])
    otp_login(client, desk.checker)

    page = client.get(f"/batches/{batch.id}/")

    assert page.status_code == 200
    assert f"to {paris.bic}" in page.content.decode()


# --- execution --------------------------------------------------------------------------------


def test_a_mixed_batch_pays_on_us_rows_and_sends_the_others_then_completes(desk, paris):
    paris.rejects[paris.customer(2)] = "AC04"
    batch = approved(
        desk,
        [
            (desk.payees[0].number, "10.00"),
            (paris.customer(1), "20.00"),
            (paris.customer(2), "30.00"),
            (desk.payees[1].number, "40.00"),
        ],
    )

    # when: the chunks are paid; nothing has gone on the network yet
    batch = services.batch_execute(batch_id=batch.id)

    rows = rows_of(batch)
    assert batch.status == Batch.Status.EXECUTING
    assert [rows[n].status for n in (1, 2, 3, 4)] == ["paid", "pending", "pending", "paid"]
    assert (batch.succeeded_count, batch.processed_count) == (2, 2)
    sent = Payment.objects.get(pk=rows[2].payment_id)
    assert (sent.status, sent.direction, sent.creditor_iban) == (
        "pending",
        "outgoing",
        paris.customer(1),
    )
    assert (
        sent.creditor_account_id
        == clearing_services.clearing_account(peer=paris.peer, currency="EUR").pk
    )
    assert sent.creditor_address == rows[2].creditor_address  # from the row (null until addr)
    assert rows[2].clearing["uetr"] == str(sent.uetr)
    assert statuses(pain002(batch))["E2E-2"] == ("PDNG", "")  # pending is not final
    desk.account.refresh_from_db()
    assert desk.account.balance == 5_000_000 - 10_000  # all four rows left the account

    # when: the outbox sends them, the peer answers
    run_outbox()

    batch.refresh_from_db()
    rows = rows_of(batch)
    assert batch.status == Batch.Status.COMPLETED_WITH_ERRORS
    assert (batch.succeeded_count, batch.failed_count, batch.processed_count) == (3, 1, 4)
    assert [rows[n].status for n in (1, 2, 3, 4)] == ["paid", "paid", "failed", "paid"]
    assert rows[2].clearing["status"] == "ACSC"
    assert (rows[3].error_code, rows[3].clearing["reason_code"]) == ("AC04", "AC04")
    assert rows[3].error_message == f"rejected by {paris.bic} (AC04)"
    assert Payment.objects.get(pk=rows[3].payment_id).status == "failed"
    desk.account.refresh_from_db()
    assert (desk.account.balance, desk.account.held) == (5_000_000 - 7_000, 0)
    assert clearing_services.position(peer=paris.peer, currency="EUR") == -2_000
    assert sum(paris.received.values()) == 2 and paris.refused == []
    assert ledger_verify()["ok"] is True
    assert statuses(pain002(batch)) == {
        "E2E-1": ("ACSC", ""),
        "E2E-2": ("ACSC", ""),
        "E2E-3": ("RJCT", "AC04"),
        "E2E-4": ("ACSC", ""),
    }


def test_the_pain002_of_a_batch_whose_external_rows_are_all_rejected(desk, paris):
    paris.rejects[paris.customer(1)] = "AC01"
    paris.rejects[paris.customer(2)] = "AC06"
    batch = approved(desk, [(paris.customer(1), "20.00"), (paris.customer(2), "30.00")])

    services.batch_execute(batch_id=batch.id)
    run_outbox()

    batch.refresh_from_db()
    assert batch.status == Batch.Status.FAILED
    document = pain002(batch)
    assert document.findtext(".//p:GrpSts", namespaces=NS) == "RJCT"
    assert statuses(document) == {"E2E-1": ("RJCT", "AC01"), "E2E-2": ("RJCT", "AC06")}
    desk.account.refresh_from_db()
    assert (desk.account.balance, desk.account.held) == (5_000_000, 0)


def test_a_peer_that_is_down_holds_only_its_rows_then_the_batch_completes(desk, paris, brussels):
    brussels.down = True
    batch = approved(
        desk,
        [
            (desk.payees[0].number, "10.00"),
            (brussels.customer(1), "20.00"),
            (paris.customer(1), "30.00"),
            (brussels.customer(2), "40.00"),
        ],
    )
    services.batch_execute(batch_id=batch.id)

    run_outbox()

    batch.refresh_from_db()
    rows = rows_of(batch)
    assert batch.status == Batch.Status.EXECUTING
    assert [rows[n].status for n in (1, 2, 3, 4)] == ["paid", "pending", "paid", "pending"]
    held = clearing_services.clearing_account(peer=brussels.peer, currency="EUR")
    assert held.balance == 6_000  # the funds wait in the peer's clearing account
    job = OutboxJob.objects.get(key__startswith=f"clearing.batch:{batch.id}:{brussels.bic}")
    assert job.done_at is None and job.due_at > timezone.now()  # tried again later
    assert "have no answer yet" in job.last_error

    # when: the peer is back and the outbox's time comes
    brussels.down = False
    OutboxJob.objects.filter(pk=job.pk).update(due_at=timezone.now())
    run_outbox()

    batch.refresh_from_db()
    assert batch.status == Batch.Status.COMPLETED
    assert batch.succeeded_count == 4
    assert sorted(brussels.received.values()) == [1, 1]
    assert ledger_verify()["ok"] is True


def test_execution_run_again_after_a_crash_sends_nothing_twice(desk, paris):
    batch = approved(desk, [(paris.customer(n), "5.00") for n in range(1, 6)])
    # The worker dies after a chunk of three committed, before anything was sent ...
    services.batch_execute(batch_id=batch.id, chunk_size=3)
    first = set(Message.objects.values_list("uetr", flat=True))
    # ... and the job runs again (twice, for good measure): it finds the rows' payments.
    services.batch_execute(batch_id=batch.id, chunk_size=3)
    services.batch_execute(batch_id=batch.id)

    assert Payment.objects.filter(batch_id=batch.id).count() == 5
    assert Message.objects.count() == 5 and first <= set(
        Message.objects.values_list("uetr", flat=True)
    )
    # The sending jobs run twice too (a worker lost mid-job, the sweep sends it again).
    jobs = list(OutboxJob.objects.filter(key__startswith="clearing.batch:"))
    for job in jobs:
        batched.transfers_deliver(*job.args)
    run_outbox()
    for job in jobs:
        batched.transfers_deliver(*job.args)

    batch.refresh_from_db()
    assert batch.status == Batch.Status.COMPLETED
    assert sorted(paris.received.values()) == [1] * 5  # each transfer posted once
    assert clearing_services.position(peer=paris.peer, currency="EUR") == -2_500


def test_a_chunk_that_dies_before_its_commit_leaves_nothing_sent_and_runs_again(
    desk, paris, monkeypatch
):
    batch = approved(desk, [(paris.customer(n), "5.00") for n in range(1, 4)])
    queue = batched.transfers_queue

    def killed(**kwargs):
        queue(**kwargs)  # the payments are debited, the Messages and the outbox row written...
        raise RuntimeError("worker killed")  # ... and the worker dies before the commit

    monkeypatch.setattr(batched, "transfers_queue", killed)
    with pytest.raises(RuntimeError, match="worker killed"):
        services.batch_execute(batch_id=batch.id)

    assert not Payment.objects.filter(batch_id=batch.id).exists()
    assert not Message.objects.exists()
    assert not OutboxJob.objects.filter(key__startswith="clearing.batch:").exists()
    assert set(batch.items.values_list("status", flat=True)) == {BatchItem.Status.VALID}

    monkeypatch.setattr(batched, "transfers_queue", queue)
    services.batch_execute(batch_id=batch.id)
    run_outbox()

    batch.refresh_from_db()
    assert batch.status == Batch.Status.COMPLETED
    assert sorted(paris.received.values()) == [1, 1, 1]
    desk.account.refresh_from_db()
    assert (desk.account.balance, desk.account.held) == (5_000_000 - 1_500, 0)


def test_a_transfer_whose_document_cannot_be_written_fails_here_and_gives_the_money_back(
    desk, paris
):
    batch = approved(desk, [(paris.customer(1), "5.00"), (paris.customer(2), "7.00")])
    # A stored address the schema refuses (Ctry is two capital letters).
    batch.items.filter(row=1).update(creditor_address={"town": "Paris", "country": "France"})
    services.batch_execute(batch_id=batch.id)

    run_outbox()

    batch.refresh_from_db()
    rows = rows_of(batch)
    assert batch.status == Batch.Status.COMPLETED_WITH_ERRORS
    assert (rows[1].status, rows[1].error_code) == (BatchItem.Status.FAILED, "FF01")
    assert rows[2].status == BatchItem.Status.PAID
    assert len(paris.received) == 1  # the first never left
    desk.account.refresh_from_db()
    assert (desk.account.balance, desk.account.held) == (5_000_000 - 700, 0)
    assert ledger_verify()["ok"] is True


def test_a_late_answer_after_a_resend_changes_nothing(desk, paris):
    batch = approved(desk, [(paris.customer(1), "5.00")])
    services.batch_execute(batch_id=batch.id)
    run_outbox()
    batch.refresh_from_db()
    assert batch.status == Batch.Status.COMPLETED
    message = Message.objects.get(kind="pacs.008.001.08")

    # when: the same ACSC arrives again (a resend answered late)
    from clearing import outbound
    from clearing.iso import validation

    answer = paris.answers[message.uetr]
    _kind, root, _doc = validation.validate(answer, expect="pacs.002.001.10")
    outbound.status_apply(peer=paris.peer, root=root, body=answer)

    batch.refresh_from_db()
    assert (batch.succeeded_count, batch.processed_count) == (1, 1)
    assert clearing_services.position(peer=paris.peer, currency="EUR") == -500


# --- sending at most CLEARING_MAX_IN_FLIGHT at once (threads: their own connections) ----------


@pytest.mark.django_db(transaction=True)
def test_no_more_than_the_bound_is_in_flight_to_a_peer(desk, paris, hub):
    hub.CLEARING_MAX_IN_FLIGHT = 4
    paris.delay = 0.05
    batch = approved(desk, [(paris.customer(n), "1.00") for n in range(1, 41)])
    services.batch_execute(batch_id=batch.id)
    (job,) = OutboxJob.objects.filter(key__startswith="clearing.batch:")

    # Two senders of the same peer's transfers at once (two workers): still four in all.
    import threading

    half = len(job.args[1]) // 2
    from django.db import connection

    def deliver(ids):
        try:
            batched.transfers_deliver(job.args[0], ids)
        finally:
            connection.close()

    threads = [
        threading.Thread(target=deliver, args=(ids,))
        for ids in (job.args[1][:half], job.args[1][half:])
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    batch.refresh_from_db()
    assert batch.status == Batch.Status.COMPLETED
    assert paris.max_in_flight == 4  # concurrent, and bounded
    assert sorted(paris.received.values()) == [1] * 40
