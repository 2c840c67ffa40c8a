"""`manage.py bench_clearing`: instant payments between two hubs on this machine.

Makes two databases beside this settings' one (`<name>_clearing_a`, `_b`, dropped first),
migrates them, seeds a merchant with funded accounts at hub A and customers at hub B,
introduces the hubs to each other (clearing_identity, clearing_peer_add) and serves each
with its own gunicorn. Then the load generator of bench_api posts, at `--clients`, payments
A -> B (each answered once B's pacs.002 is applied: the figure is the round trip between two
banks) and, in the same run, on-us payments at A (bench_api's shape "spread"). Afterwards
the positions must mirror and verify_ledger be ok on both hubs. Each kind's figures carry
the CPU a payment cost (`cpu_ms_per_payment`: hub A's server, hub B's, PostgreSQL's, all),
which does not depend on how many cores the two banks share. Prints one JSON object.

Needs DATABASE_URL (a server: two databases are created on it).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.parse
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import connection

from tools import cpu
from tools.management.commands.bench_api import free_port, wait_until_up

BASE_DIR = Path(settings.BASE_DIR)
HUBS = {
    "a": {"bic": "BNCHDEFFXXX", "country": "DE", "bank": "50010050", "prefix": "DE50010050"},
    "b": {"bic": "BNCHFRPPXXX", "country": "FR", "bank": "30004", "prefix": "FR30004"},
}


def iban(country: str, bban: str) -> str:
    digits = "".join(str(int(char, 36)) for char in bban + country + "00")
    return f"{country}{98 - int(digits) % 97:02d}{bban}"


def number(hub: str, index: int) -> str:
    return iban(HUBS[hub]["country"], f"{HUBS[hub]['bank']}{index:010d}")


SEED = """
import json
from accounts.identity.audit import Actor
from accounts.ledger import services
from payments.api_keys import api_key_create
actor = Actor.system("bench_clearing")
merchant = services.merchant_create(name="Bench {hub}", actor=actor)
keys = []
for n in {numbers!r}:
    services.account_open(currency="EUR", merchant_id=merchant.pk, number=n, actor=actor)
    services.account_fund(number=n, amount="100000000.00", actor=actor)
    keys.append(api_key_create(merchant=merchant, name="bench", actor=actor)[1])
for n in {payees!r}:
    services.account_open(currency="EUR", merchant_id=merchant.pk, number=n, actor=actor)
print(json.dumps({{"keys": keys}}))
"""


class Command(BaseCommand):
    help = "Benchmark instant payments between two hubs beside on-us ones; one JSON object."

    def add_arguments(self, parser):
        parser.add_argument("--seconds", type=float, default=10.0)
        parser.add_argument("--clients", type=int, default=8)
        parser.add_argument("--workers", type=int, default=(os.cpu_count() or 2) * 2)
        parser.add_argument("--threads", type=int, default=4)
        parser.add_argument(
            "--batch-rows",
            type=int,
            default=0,
            help="instead of instant payments: a batch of this many rows at A to B's customers",
        )

    def handle(self, *args, seconds, clients, workers, threads, batch_rows=0, **options):
        url = os.environ.get("DATABASE_URL")
        if not url:
            raise CommandError("bench_clearing needs DATABASE_URL (a PostgreSQL server)")
        parts = urllib.parse.urlsplit(url)
        base = parts.path.lstrip("/")
        names = {hub: f"{base}_clearing_{hub}" for hub in HUBS}
        with connection.cursor() as cursor:
            for name in names.values():
                cursor.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
                cursor.execute(f'CREATE DATABASE "{name}"')
        ports = {hub: free_port() for hub in HUBS}
        envs = {}
        for hub, name in names.items():
            data_dir = Path(settings.DATA_DIR) / f"bench-clearing-{hub}"
            data_dir.mkdir(parents=True, exist_ok=True)
            envs[hub] = {
                **os.environ,
                "DATABASE_URL": urllib.parse.urlunsplit(parts._replace(path=f"/{name}")),
                "DATA_DIR": str(data_dir),
                "HUB_BIC": HUBS[hub]["bic"],
                "PUBLIC_URL": f"http://127.0.0.1:{ports[hub]}",
                "API_THROTTLE_RATE": "1000000/second",
                "SECURE_COOKIES": "false",
                "LOG_LEVEL": "WARNING",
            }
        with ThreadPoolExecutor(2) as pool:
            list(pool.map(lambda hub: self._manage(envs[hub], "migrate", "-v", "0"), HUBS))
        debtors = [number("a", index) for index in range(1, clients + 1)]
        local_payees = [number("a", 1000 + index) for index in range(8)]
        remote_payees = [number("b", index) for index in range(1, 9)]
        seeded = self._manage(
            envs["a"], "shell", "-c", SEED.format(hub="A", numbers=debtors, payees=local_payees)
        )
        self._manage(
            envs["b"], "shell", "-c", SEED.format(hub="B", numbers=[], payees=remote_payees)
        )
        identities = {hub: self._manage(envs[hub], "clearing_identity") for hub in HUBS}
        for hub, other in (("a", "b"), ("b", "a")):
            self._manage(
                envs[hub],
                "clearing_peer_add",
                "--bic",
                HUBS[other]["bic"],
                "--url",
                identities[other]["url"],
                "--public-key",
                identities[other]["public_key"],
                "--iban-prefix",
                HUBS[other]["prefix"],
            )
        servers = {}
        try:
            for hub in HUBS:
                servers[hub] = subprocess.Popen(
                    [
                        sys.executable,
                        "-m",
                        "gunicorn",
                        "-c",
                        "config/gunicorn.py",
                        "config.wsgi",
                        "--bind",
                        f"127.0.0.1:{ports[hub]}",
                        "--workers",
                        str(workers),
                        "--threads",
                        str(threads),
                        "--log-level",
                        "warning",
                    ],
                    cwd=BASE_DIR,
                    env=envs[hub],
                )
            for hub in HUBS:
                wait_until_up(ports[hub], servers[hub])
            if batch_rows:  # the batch mode: its own figure, no instant load (below)
                return self._batch(envs, batch_rows, debtors[0], remote_payees)
            api = f"http://127.0.0.1:{ports['a']}/api/v1/payments/"

            def jobs(payees: list[str]) -> list[dict]:
                return [
                    {
                        "key": key,
                        "body": {
                            "debtor_account": debtor,
                            "creditor_account": payees[index % len(payees)],
                            "amount": "1.00",
                            "currency": "EUR",
                            "reference": f"bench-{index}",
                            "creditor_name": "Bench payee",
                            "creditor_address": {"town": "Paris", "country": "FR"},
                        },
                    }
                    for index, (debtor, key) in enumerate(zip(debtors, seeded["keys"], strict=True))
                ]

            roots = {f"hub_{hub}": server.pid for hub, server in servers.items()}

            def measured(payees: list[str]) -> dict:
                """A load's figures with the CPU each payment cost, per hub and PostgreSQL."""
                before = cpu.snapshot(roots)
                result = self._load(api, jobs(payees), clients, seconds)
                after = cpu.snapshot(roots)
                result["cpu_ms_per_payment"] = cpu.per_unit_ms(before, after, result["payments"])
                return result

            self._load(api, jobs(remote_payees), clients, min(2.0, seconds))  # warm up
            interbank = measured(remote_payees)
            self.stderr.write(json.dumps({"interbank": interbank}))
            on_us = measured(local_payees)
            self.stderr.write(json.dumps({"on_us": on_us}))
        finally:
            for server in servers.values():
                server.terminate()
            for server in servers.values():
                try:
                    server.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    server.kill()
                    server.wait(timeout=30)
        positions = {
            hub: self._manage(envs[hub], "clearing_position", "--bic", HUBS[other]["bic"])[
                "position"
            ]
            for hub, other in (("a", "b"), ("b", "a"))
        }
        ledgers = {hub: self._manage(envs[hub], "verify_ledger", check=False)["ok"] for hub in HUBS}
        self.stdout.write(
            json.dumps(
                {
                    "clients": clients,
                    "seconds": seconds,
                    "gunicorn_workers": workers,
                    "gunicorn_threads": threads,
                    "interbank": interbank,
                    "on_us": on_us,
                    "interbank_share_of_on_us": round(
                        interbank["payments_per_s"] / on_us["payments_per_s"], 2
                    )
                    if on_us["payments_per_s"]
                    else None,
                    "positions": positions,
                    "positions_mirror": Decimal(positions["a"]) == -Decimal(positions["b"]),
                    "ledgers_ok": ledgers,
                }
            )
        )

    def _manage(self, env: dict[str, str], *args: str, check: bool = True) -> dict:
        done = subprocess.run(
            [sys.executable, "manage.py", *args],
            cwd=BASE_DIR,
            env=env,
            capture_output=True,
            text=True,
        )
        if check and done.returncode != 0:
            raise CommandError(f"{args[0]}: {done.stderr[-2000:]}")
        lines = [line for line in done.stdout.strip().splitlines() if line.startswith("{")]
        return json.loads(lines[-1]) if lines else {}

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
        return result

    # --- the batch mode (--batch-rows) ----------------------------------------------------

    def _batch(self, envs: dict, rows: int, debtor: str, payees: list[str]) -> None:
        """A batch of `rows` at A to B's customers (every 100th to an account B does not have:
        RJCT AC01 there), executed by a worker of A's; rows/s from the last approval to the
        batch's end. Prints one JSON object."""
        unknown = number("b", 999)
        self._manage(
            envs["a"],
            "shell",
            "-c",
            "import django_rq\nfor q in ('batches', 'default'): django_rq.get_queue(q).empty()",
        )
        helpers = [
            subprocess.Popen(
                [sys.executable, "manage.py", *command],
                cwd=BASE_DIR,
                env=envs["a"],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            for command in (("rqworker", "batches", "default"), ("rqcron", "config.cron"))
        ]
        try:
            script = (
                "import json\nfrom tools import network_batch\n"
                f"payees = {payees!r}\n"
                f"lines = [({unknown!r} if i % 100 == 99 else payees[i % len(payees)], '1.00')"
                f" for i in range({rows})]\n"
                f"print(json.dumps(network_batch.run(debtor={debtor!r}, rows=lines,"
                f" msg_id='BENCH-NET-{os.getpid()}')))"
            )
            result = self._manage(envs["a"], "shell", "-c", script)
        finally:
            for helper in helpers:
                helper.terminate()
            for helper in helpers:
                helper.wait(timeout=30)
        positions = {
            hub: self._manage(envs[hub], "clearing_position", "--bic", HUBS[other]["bic"])[
                "position"
            ]
            for hub, other in (("a", "b"), ("b", "a"))
        }
        ledgers = {hub: self._manage(envs[hub], "verify_ledger", check=False)["ok"] for hub in HUBS}
        self.stdout.write(
            json.dumps(
                {
                    "batch_rows": rows,
                    "max_in_flight": int(os.environ.get("CLEARING_MAX_IN_FLIGHT", 16)),
                    **result,
                    "positions": positions,
                    "positions_mirror": Decimal(positions["a"]) == -Decimal(positions["b"]),
                    "ledgers_ok": ledgers,
                }
            )
        )
