"""A batch's rows to other banks, exactly once: execution run again after a crash, a chunk
that dies before its commit, a document that cannot be written, a late answer, and at most
CLEARING_MAX_IN_FLIGHT posts in flight to a peer.
"""

from __future__ import annotations

import pytest

from accounts.ledger.selectors import ledger_verify
from batches import services
from batches.models import Batch, BatchItem
from clearing import batched
from clearing import services as clearing_services
from clearing.models import Message
from outbox.models import OutboxJob
from payments.models import Payment
from tests.batches.network.helpers import (
    approved,
    rows_of,
    run_outbox,
)


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
