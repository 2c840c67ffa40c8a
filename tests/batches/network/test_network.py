"""A batch whose rows pay other banks' customers (issue 19, "batches through the network"):
validation, execution, the pain.002, a peer that is down.

The other banks are real HTTP servers (peer.py) reached through the hub's signed transport;
the outbox's jobs run in this process, as a worker would run them.
"""

from __future__ import annotations

from django.utils import timezone

from accounts.ledger.selectors import ledger_verify
from batches import services
from batches.models import Batch, BatchItem
from clearing import services as clearing_services
from clearing.models import Message
from outbox.models import OutboxJob
from payments.models import Payment
from tests.batches.network.helpers import (
    NS,
    approved,
    pain002,
    rows_of,
    run_outbox,
    statuses,
    validated,
)
from tests.clearing.conftest import iban
from tests.helpers import otp_login

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


def test_a_payee_at_another_bank_is_new_until_the_debtor_has_paid_it(desk, paris):
    first = approved(desk, [(paris.customer(1), "10.00")], msg_id="NET-A")
    assert rows_of(first)[1].is_new_payee
    services.batch_execute(batch_id=first.id)
    run_outbox()

    second = validated(desk, [(paris.customer(1), "11.00"), (paris.customer(2), "12.00")], "NET-B")

    rows = rows_of(second)
    assert not rows[1].is_new_payee  # paid by the first batch
    assert rows[2].is_new_payee
    assert second.flag_counts["new_payee"] == 1


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
    # The address read from the file is the row's, the payment's, and the pacs.008's.
    assert rows[2].creditor_address == {"town": "Paris", "country": "FR"}
    assert sent.creditor_address == rows[2].creditor_address
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
    pacs008 = bytes(
        Message.objects.get(
            kind="pacs.008.001.08", direction="out", payment_id=rows[2].payment_id
        ).body
    )
    assert (
        b"<Cdtr><Nm>Payee 2</Nm><PstlAdr><TwnNm>Paris</TwnNm><Ctry>FR</Ctry></PstlAdr>" in pacs008
    )
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
