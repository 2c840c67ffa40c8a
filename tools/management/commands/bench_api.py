"""`manage.py bench_api`: payments per second and latency through the real stack.

Starts gunicorn (config/gunicorn.py) on this settings' database, then a load generator
in another process at 1, 8 and 32 concurrent clients, each posting authorize-and-capture
payments for `--seconds`, every one with its own Idempotency-Key. `--shape`:

- spread: a merchant and a debtor account per client, paying 8 payees (today's figures);
- hot-creditor: a merchant per client, every one paying into one collection account;
- hot-debtor: one merchant account paying out from every client (its row lock is the limit).
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand
from django.db import connection

from accounts.identity.audit import Actor
from accounts.ledger import money, posting
from accounts.ledger.selectors import ledger_verify
from accounts.ledger.services import account_open, merchant_create
from accounts.models import Account, LedgerTransaction, Merchant
from payments import api_keys

BASE_DIR = Path(settings.BASE_DIR)
SHAPES = ("spread", "hot-creditor", "hot-debtor")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_gunicorn(workers: int, threads: int) -> tuple[subprocess.Popen, int]:
    """gunicorn (config/gunicorn.py) on this settings' database, on a free port, without the
    API's throttle; also used by `bench_batch --payer-clients`."""
    port = free_port()
    env = {
        **os.environ,
        "API_THROTTLE_RATE": "1000000/second",
        "SECURE_COOKIES": "false",
        "LOG_LEVEL": "WARNING",
    }
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "-c",
            "config/gunicorn.py",
            "config.wsgi",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            str(workers),
            "--threads",
            str(threads),
            "--log-level",
            "warning",
        ],
        cwd=BASE_DIR,
        env=env,
    )
    return server, port


def wait_until_up(port: int, server: subprocess.Popen) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError("gunicorn exited")
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2)
            return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError("gunicorn did not answer within 60 s")


class Command(BaseCommand):
    help = "Benchmark the payments API at 1, 8 and 32 clients; prints one JSON object."

    def add_arguments(self, parser):
        parser.add_argument("--seconds", type=float, default=10.0)
        parser.add_argument("--clients", default="1,8,32")
        parser.add_argument(
            "--workers", type=int, default=int(os.environ.get("BENCH_WORKERS", 0)) or None
        )
        parser.add_argument("--threads", type=int, default=int(os.environ.get("BENCH_THREADS", 1)))
        parser.add_argument("--shape", choices=SHAPES, default="spread")

    def handle(self, *args, seconds, clients, workers, threads, shape, **options):
        levels = [int(level) for level in clients.split(",")]
        jobs = self._setup(max(levels), shape)
        workers = workers or (os.cpu_count() or 2) * 2
        server, port = start_gunicorn(workers, threads)
        results = []
        try:
            wait_until_up(port, server)
            url = f"http://127.0.0.1:{port}/api/v1/payments/"
            self._load(url, jobs, 1, min(2.0, seconds))  # warm every worker's connection
            for level in levels:
                results.append(self._load(url, jobs, level, seconds))
                self.stderr.write(json.dumps(results[-1]))
        finally:
            server.terminate()
            server.wait(timeout=30)
        check = ledger_verify()
        self.stdout.write(
            json.dumps(
                {
                    "database": connection.display_name,
                    "shape": shape,
                    "idempotency_keys": True,
                    "gunicorn_workers": workers,
                    "gunicorn_threads": threads,
                    "seconds_per_level": seconds,
                    "ledger_ok": check["ok"],
                    "results": results,
                }
            )
        )

    def _setup(self, clients: int, shape: str) -> list[dict]:
        """Merchants, funded debtor accounts and keys for the shape (see the module's doc)."""
        actor = Actor.system("bench_api")

        def account(number: str, merchant: Merchant | None = None) -> Account:
            found = Account.objects.filter(number=number).first()
            return found or account_open(
                currency="EUR",
                merchant_id=merchant.pk if merchant else None,
                number=number,
                actor=actor,
            )

        def merchant_named(name: str) -> Merchant:
            return Merchant.objects.filter(name=name).first() or merchant_create(
                name=name, actor=actor
            )

        def funded(debtor: Account) -> Account:
            if debtor.balance < money.to_minor("1000000", "EUR"):
                posting.transfer(
                    debtor_id=posting.funding_account("EUR").pk,
                    creditor_id=debtor.pk,
                    amount=money.to_minor("100000000", "EUR"),
                    currency="EUR",
                    kind=LedgerTransaction.Kind.FUNDING,
                    reference="bench funding",
                )
            return debtor

        if shape == "hot-creditor":
            creditors = [account("BENCHCOLLECTION")]
        else:
            creditors = [account(f"BENCHPAYEE{index:04d}") for index in range(8)]
        if shape == "hot-debtor":
            payer = merchant_named("Bench payout merchant")
            payouts = [funded(account("BENCHPAYOUT", payer))]
        jobs = []
        for index in range(clients):
            if shape == "hot-debtor":
                merchant, debtor = payer, payouts[0]
            else:
                merchant = merchant_named(f"Bench merchant {index:03d}")
                debtor = funded(account(f"BENCHDEBTOR{index:04d}", merchant))
            _, key = api_keys.api_key_create(merchant=merchant, name="bench", actor=actor)
            jobs.append(
                {
                    "key": key,
                    "body": {
                        "debtor_account": debtor.number,
                        "creditor_account": creditors[index % len(creditors)].number,
                        "amount": "1.00",
                        "currency": "EUR",
                        "reference": f"bench-{index}",
                    },
                }
            )
        return jobs

    def _load(self, url: str, jobs: list[dict], clients: int, seconds: float) -> dict:
        config = {"url": url, "clients": clients, "seconds": seconds, "jobs": jobs}
        output = subprocess.run(
            [sys.executable, "-m", "tools.loadgen", json.dumps(config)],
            cwd=BASE_DIR,
            capture_output=True,
            text=True,
            check=True,
        )
        result = json.loads(output.stdout.strip().splitlines()[-1])
        result.pop("seconds", None)
        result.pop("payments", None)
        return result
