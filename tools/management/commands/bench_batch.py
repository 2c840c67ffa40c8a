"""`manage.py bench_batch --rows N`: validation and execution speed of one batch file,
measured in a real RQ worker process (its peak memory included).

Generates a CSV of N rows to many payees, uploads it, lets a worker validate
it, approves it with two approvers, lets a worker execute it, then checks the
ledger. Prints one JSON object.

`--payer-clients N` also measures what a batch's execution does to the real-time
payments of its debtor account: while the worker executes the batch, N clients
(tools/loadgen.py, through gunicorn and the HTTP API, with the batch merchant's API
key) pay 1.00 EUR each from the batch's debtor account into an account the batch does not
pay, back to back; the payments that started between the job's start and end are
reported (`during_execution_*`).
"""

from __future__ import annotations

import contextlib
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from datetime import UTC
from decimal import Decimal
from pathlib import Path

import django_rq
from django.conf import settings
from django.core.files import File
from django.core.management.base import BaseCommand
from django.db import connection

from accounts.identity import roles
from accounts.identity.audit import Actor
from accounts.ledger import posting
from accounts.ledger.selectors import ledger_verify
from accounts.ledger.services import account_open, merchant_create
from accounts.models import Account, LedgerTransaction, Merchant, User
from batches import services
from batches.models import Batch
from payments.api_keys import api_key_create
from payments.models import Payment
from tools import loadgen, people
from tools.management.commands.bench_api import start_gunicorn, wait_until_up

PAYEES = 1000


class Command(BaseCommand):
    help = "Benchmark a batch of N rows through validation and execution; prints one JSON object."

    def add_arguments(self, parser):
        parser.add_argument("--rows", type=int, default=100_000)
        parser.add_argument(
            "--payer-clients",
            type=int,
            default=0,
            help=(
                "while the worker executes the batch, this many clients send real-time "
                "payments (POST /api/v1/payments/ through gunicorn, the batch merchant's API "
                "key) from the batch's debtor account, back to back; adds "
                "during_execution_payments, _errors, _p50_ms, _p95_ms, _p99_ms and _max_ms "
                "(the payments that started while the execution job ran). Default 0: none."
            ),
        )

    def handle(self, *args, rows, payer_clients, **options):
        redis_process = self._ensure_redis()
        try:
            result = self._run(rows, payer_clients)
        finally:
            if redis_process is not None:
                redis_process.terminate()
        self.stdout.write(json.dumps(result))

    def _ensure_redis(self):
        if os.environ.get("REDIS_URL"):
            return None
        from config import embedded_redis

        return embedded_redis.start(settings.EMBEDDED_REDIS_SOCKET, settings.DATA_DIR)

    def _run(self, rows: int, payer_clients: int = 0) -> dict:
        actor = Actor.system("bench_batch")
        run_id = f"{int(time.time())}"
        merchant = Merchant.objects.filter(name="Bench payroll").first() or merchant_create(
            name="Bench payroll", actor=actor
        )
        debtor = account_open(
            currency="EUR", merchant_id=merchant.pk, number=f"BENCHPAYROLL{run_id}", actor=actor
        )
        posting.transfer(
            debtor_id=posting.funding_account("EUR").pk,
            creditor_id=debtor.pk,
            # 100.00 a row (a row is at most 50.99); with payers, 1,000,000.00 more for theirs.
            amount=rows * 10_000 + (100_000_000 if payer_clients else 0),
            currency="EUR",
            kind=LedgerTransaction.Kind.FUNDING,
        )
        payees = []
        for index in range(PAYEES):
            number = f"BENCHPAYEE{index:05d}"
            payees.append(
                Account.objects.filter(number=number).first()
                or account_open(currency="EUR", number=number, actor=actor)
            )
        maker = self._user("bench-maker", roles.OPERATOR)
        checkers = [self._user(f"bench-checker{i}", roles.APPROVER) for i in (1, 2)]

        path = self._write_csv(rows, payees, run_id)
        queue = django_rq.get_queue("batches")
        queue.empty()
        with open(path, "rb") as handle:
            batch = services.batch_upload(
                merchant=merchant,
                upload=File(handle, name="bench.csv"),
                debtor_account_number=debtor.number,
                actor=Actor.for_user(maker),
                uploaded_by=maker,
            )
        os.unlink(path)
        validation_seconds = self._work(queue, "batches.jobs.validate_batch", batch)
        batch.refresh_from_db()
        if batch.status != Batch.Status.AWAITING_APPROVAL:
            raise RuntimeError(f"validation ended {batch.status}: {batch.error_message}")
        page_ms = self._time_batch_page(batch, checkers[0])
        for checker in checkers:  # as many approvers as the day's exposure asks for
            batch = services.batch_approve(
                batch_id=batch.id,
                approver=checker,
                confirm_mismatches=True,  # synthetic payee names: VoP mismatches, confirmed
                actor=Actor.for_user(checker),
                otp_token=self._fresh_code(checker),
            )
            if batch.status != Batch.Status.AWAITING_APPROVAL:
                break
        payers: dict = {}
        if payer_clients:
            with self._payers(merchant, debtor, payer_clients) as samples:
                execution_seconds = self._work(
                    queue, "batches.jobs.execute_batch", batch, window=payers
                )
            payers = self._during(samples, payers)
        else:
            execution_seconds = self._work(queue, "batches.jobs.execute_batch", batch)
        batch.refresh_from_db()
        peak_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        check = ledger_verify()
        batch_payments = Payment.objects.filter(batch_id=batch.pk)
        return {
            "rows": rows,
            "validation_seconds": round(validation_seconds, 2),
            "validation_rows_per_s": round(rows / validation_seconds),
            "execution_seconds": round(execution_seconds, 2),
            "execution_rows_per_s": round(batch.succeeded_count / execution_seconds),
            "peak_memory_mb": round(peak_kb / 1024, 1),
            "flag_counts": batch.flag_counts,
            **page_ms,
            "database": connection.display_name,
            "batch_status": batch.status,
            "paid_rows": batch.succeeded_count,
            # One payment per row, none twice (and the unique (batch, row) index says so too).
            "rows_paid_once": batch_payments.count()
            == batch_payments.values("batch_row").distinct().count()
            == batch.valid_count,
            **payers,
            "ledger_ok": check["ok"],
        }

    @contextlib.contextmanager
    def _payers(self, merchant: Merchant, debtor: Account, clients: int):
        """gunicorn and the load generator, paying from `debtor` until the block ends;
        yields the list the load generator's samples are put in."""
        actor = Actor.system("bench_batch")
        payee = Account.objects.filter(number="BENCHRTPAYEE").first() or account_open(
            currency="EUR", number="BENCHRTPAYEE", actor=actor
        )
        _, key = api_key_create(merchant=merchant, name="bench payer", actor=actor)
        job = {
            "key": key,
            "body": {
                "debtor_account": debtor.number,
                "creditor_account": payee.number,
                "amount": "1.00",
                "currency": "EUR",
                "reference": "bench real-time payer",
            },
        }
        server, port = start_gunicorn(workers=max(2, clients), threads=1)
        samples: list = []
        try:
            wait_until_up(port, server)
            config = {
                "url": f"http://127.0.0.1:{port}/api/v1/payments/",
                "clients": clients,
                "seconds": 3600,
                "jobs": [job],
                "until_stdin_closes": True,
                "samples": True,
            }
            load = subprocess.Popen(
                [sys.executable, "-m", "tools.loadgen", json.dumps(config)],
                cwd=settings.BASE_DIR,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                text=True,
            )
            try:
                yield samples
            finally:
                output, _ = load.communicate("", timeout=120)  # closes its stdin: it stops
            samples.extend(json.loads(output.strip().splitlines()[-1])["samples"])
        finally:
            server.terminate()
            server.wait(timeout=30)

    def _during(self, samples: list, window: dict) -> dict:
        """The real-time payments that started while the execution job ran."""
        began, ended = window["started_at"], window["ended_at"]
        during = [sample for sample in samples if began <= sample[0] <= ended]
        latencies = sorted(latency for _, latency, ok in during if ok)
        return {
            "payer_clients_window_s": round(ended - began, 2),
            "during_execution_payments": len(latencies),
            "during_execution_errors": sum(1 for *_, ok in during if not ok),
            "during_execution_p50_ms": round(loadgen.percentile(latencies, 0.50), 1),
            "during_execution_p95_ms": round(loadgen.percentile(latencies, 0.95), 1),
            "during_execution_p99_ms": round(loadgen.percentile(latencies, 0.99), 1),
            "during_execution_max_ms": round(latencies[-1], 1) if latencies else 0.0,
        }

    def _time_batch_page(self, batch: Batch, user: User, runs: int = 5) -> dict[str, float]:
        """The approver's batch page (first page of rows, sorted by amount, a search),
        rendered by the view in this process: median milliseconds of `runs`."""
        from django.test import RequestFactory

        from batches import views

        factory = RequestFactory()
        user.is_verified = lambda: True  # type: ignore[attr-defined]  # as after both factors
        timings = {}
        for name, query in [
            ("page_first_ms", {}),
            ("page_by_amount_ms", {"sort": "-amount"}),
            ("page_search_ms", {"q": "BENCHPAYEE00042"}),
        ]:
            samples = []
            for _ in range(runs):
                request = factory.get(f"/batches/{batch.pk}/", query)
                request.user = user
                started = time.perf_counter()
                response = views.batch_detail(request, batch_id=batch.pk)
                samples.append((time.perf_counter() - started) * 1000)
                assert response.status_code == 200, response.status_code
            timings[name] = round(sorted(samples)[runs // 2], 1)
        return timings

    def _fresh_code(self, user: User) -> str:
        """A code of the bench approver's authenticator, as its app would show it now."""
        return people.fresh_code(user)

    def _user(self, username: str, role: str) -> User:
        """A member of staff holding `role` by a bootstrap grant (tools/people.py)."""
        return people.person(username, role, by="bench_batch")

    def _write_csv(self, rows: int, payees: list[Account], run_id: str) -> str:
        handle = tempfile.NamedTemporaryFile("w", suffix=".csv", delete=False, newline="")
        with handle:
            handle.write("creditor_account,amount,currency,reference,end_to_end_id\n")
            for row in range(1, rows + 1):
                amount = Decimal(100 + row % 5000) / 100
                handle.write(
                    f"{payees[row % len(payees)].number},{amount},EUR,salary {run_id} {row},"
                    f"B{run_id}-{row}\n"
                )
        return handle.name

    def _work(self, queue, job_name: str, batch: Batch, window: dict | None = None) -> float:
        """Run one job in a real worker process; the job's own run time (and its start and
        end, as Unix times, in `window`)."""
        queue.empty()  # the job the service enqueued on commit: run it under our eyes instead
        job = queue.enqueue(job_name, str(batch.id), job_timeout=3600)
        subprocess.run(
            [
                sys.executable,
                str(Path(settings.BASE_DIR) / "manage.py"),
                "rqworker",
                "batches",
                "--burst",
                "--worker-class",
                "rq.worker.SimpleWorker",
                "-v",
                "0",
            ],
            check=True,
            env={**os.environ, "REDIS_URL": settings.REDIS_URL},
        )
        job.refresh()
        if job.get_status() != "finished":
            raise RuntimeError(f"{job_name} ended {job.get_status()}: {job.exc_info}")
        if window is not None:
            # RQ stores naive UTC times.
            window["started_at"] = job.started_at.replace(tzinfo=UTC).timestamp()
            window["ended_at"] = job.ended_at.replace(tzinfo=UTC).timestamp()
        return (job.ended_at - job.started_at).total_seconds()
