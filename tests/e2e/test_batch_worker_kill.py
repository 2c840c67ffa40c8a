"""A real RQ worker killed with SIGKILL in the middle of a 20,000-row batch, then a
new one started: every valid row is paid exactly once and the ledger balances."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import django_rq
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from accounts.identity import roles
from accounts.identity.audit import Actor
from accounts.ledger.selectors import ledger_verify
from accounts.models import Account
from batches import services
from batches.models import Batch, BatchItem
from outbox import services as outbox
from outbox.models import OutboxJob
from payments.models import Payment
from tests.factories import AccountFactory, MerchantFactory, fund
from tests.helpers import child_database_url, fresh_code, make_operator

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

ROOT = Path(__file__).resolve().parents[2]
ROWS = 20_000


def worker_env() -> dict[str, str]:
    """The worker process talks to this test's database and Redis."""
    url = child_database_url()
    from django.conf import settings

    return {
        **os.environ,
        "DATABASE_URL": url,
        "REDIS_URL": settings.REDIS_URL,
        "BATCH_CHUNK_SIZE": "500",
        "OUTBOX_HEARTBEAT_SECONDS": "1",
    }


def start_worker() -> subprocess.Popen:
    return subprocess.Popen(
        [
            sys.executable,
            "manage.py",
            "rqworker",
            "batches",
            "--worker-class",
            "rq.worker.SimpleWorker",
        ],
        cwd=ROOT,
        env=worker_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def test_worker_killed_mid_batch_pays_every_row_exactly_once():
    # given: a 20,000-row batch (some rows invalid), validated and approved
    merchant = MerchantFactory(name="Payroll")
    debtor = AccountFactory(merchant=merchant, currency="EUR", number="KILLPAYROLL")
    fund(debtor, ROWS * 1000)
    payees = [
        AccountFactory(merchant=None, currency="EUR", number=f"KILLPAYEE{i:03d}")
        for i in range(200)
    ]
    lines = ["creditor_account,amount,currency,reference,end_to_end_id"]
    for row in range(1, ROWS + 1):
        creditor = "NOSUCHACCOUNT" if row % 1000 == 0 else payees[row % len(payees)].number
        lines.append(f"{creditor},{1 + row % 7}.{row % 100:02d},EUR,pay {row},K{row}")
    maker = make_operator(roles.OPERATOR, username="kill-maker")
    checkers = [make_operator(roles.APPROVER, username=f"kill-checker{i}") for i in (1, 2)]
    queue = django_rq.get_queue("batches")
    queue.empty()
    batch = services.batch_upload(
        merchant=merchant,
        upload=SimpleUploadedFile("kill.csv", "\n".join(lines).encode()),
        debtor_account_number=debtor.number,
        actor=Actor.for_user(maker),
        uploaded_by=maker,
    )
    batch = services.batch_validate(batch_id=batch.id)
    assert (batch.valid_count, batch.invalid_count) == (ROWS - 20, 20)
    queue.empty()  # the validation job enqueued on upload: already done above
    for checker in checkers:  # above the threshold: two approvers
        services.batch_approve(
            batch_id=batch.id,
            approver=checker,
            confirm_mismatches=True,  # synthetic payee names: VoP mismatches, confirmed
            actor=Actor.for_user(checker),
            otp_token=fresh_code(checker),
        )
    assert queue.count == 1  # the execution job, enqueued on commit

    # when: a worker starts paying and is killed part-way
    worker = start_worker()
    try:
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            done = Batch.objects.get(pk=batch.id).processed_count
            if done >= 2000:
                break
            assert worker.poll() is None, "the worker died by itself"
            time.sleep(0.05)
        os.kill(worker.pid, signal.SIGKILL)
        worker.wait(timeout=30)
    finally:
        if worker.poll() is None:
            worker.kill()
    killed_at = Batch.objects.get(pk=batch.id)
    assert killed_at.status == "executing"
    assert 0 < killed_at.processed_count < batch.valid_count, "the kill must land mid-batch"

    # then: the outbox sees the dead worker's heartbeat stop, and a new worker finishes it
    job = OutboxJob.objects.get(key=f"batch.execute:{batch.id}")
    assert job.heartbeat_at is not None and job.done_at is None
    assert job.pk in outbox.sweep(
        now=job.heartbeat_at + outbox.stale_after() + timedelta(seconds=1)
    )
    worker = start_worker()
    try:
        deadline = time.monotonic() + 300
        while Batch.objects.get(pk=batch.id).status == "executing" and time.monotonic() < deadline:
            assert worker.poll() is None, "the second worker died"
            time.sleep(0.2)
    finally:
        worker.terminate()
        worker.wait(timeout=30)

    batch.refresh_from_db()
    assert batch.status == "completed_with_errors"  # the 20 invalid rows
    assert batch.succeeded_count == ROWS - 20
    payments = Payment.objects.filter(batch_id=batch.id)
    assert payments.count() == ROWS - 20
    assert payments.values("batch_row").distinct().count() == ROWS - 20
    assert not BatchItem.objects.filter(batch=batch, status="valid").exists()
    total = sum(payments.values_list("amount", flat=True))
    assert Account.objects.get(pk=debtor.pk).balance == ROWS * 1000 - total
    assert (
        sum(
            Account.objects.filter(number__startswith="KILLPAYEE").values_list("balance", flat=True)
        )
        == total
    )
    assert ledger_verify()["ok"]
