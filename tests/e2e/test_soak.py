"""Soak: 200 concurrent API clients for 30 s against gunicorn (config/gunicorn.py), each
payment with its own Idempotency-Key. No 500, every 201 a real payment, the ledger ok.

Bounded: SOAK_CLIENTS and SOAK_SECONDS (default 200 and 30) and 4 gunicorn workers, so
it costs about half a minute of two cores; the clients mostly wait on the server.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections import Counter
from pathlib import Path

import pytest
from django.conf import settings

from accounts.identity.audit import Actor
from accounts.ledger.selectors import ledger_verify
from payments import api_keys
from payments.models import Payment
from tests.e2e.launcher import free_port
from tests.factories import AccountFactory, MerchantFactory, fund
from tests.helpers import child_database_url

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

ROOT = Path(__file__).resolve().parents[2]
CLIENTS = int(os.environ.get("SOAK_CLIENTS", 200))
SECONDS = float(os.environ.get("SOAK_SECONDS", 30))
MERCHANTS = 20


def server_env(port: int) -> dict[str, str]:
    return {
        **os.environ,
        "DATABASE_URL": child_database_url(),
        "REDIS_URL": settings.REDIS_URL,
        "PORT": str(port),
        "WEB_CONCURRENCY": "4",
        "API_THROTTLE_RATE": "100000/second",  # the soak measures payments, not the throttle
        "LOG_LEVEL": "WARNING",
        "PROMETHEUS_MULTIPROC_DIR": "",
    }


def wait_ready(url: str, process: subprocess.Popen, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        assert process.poll() is None, "gunicorn exited early"
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except (OSError, urllib.error.HTTPError):
            pass
        time.sleep(0.2)
    raise AssertionError("gunicorn never became ready")


def post(url: str, key: str, body: dict, idempotency_key: str) -> tuple[int, dict, dict]:
    request = urllib.request.Request(
        url,
        data=json.dumps(body).encode(),
        method="POST",
        headers={
            "Authorization": f"Bearer {key}",
            "Content-Type": "application/json",
            "Idempotency-Key": idempotency_key,
        },
    )
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, json.loads(response.read()), dict(response.headers)
    except urllib.error.HTTPError as error:
        raw = error.read()
        return error.code, (json.loads(raw) if raw.startswith(b"{") else {}), dict(error.headers)


def test_200_clients_for_30_seconds_no_500_every_201_a_payment_ledger_ok():
    # given: 20 merchants with a key and a funded account each, 50 payees
    merchants = []
    for n in range(MERCHANTS):
        merchant = MerchantFactory(name=f"Soak {n}")
        _, key = api_keys.api_key_create(merchant=merchant, name="soak", actor=Actor.system("t"))
        account = AccountFactory(merchant=merchant, currency="EUR", number=f"SOAKDEBTOR{n:03d}")
        fund(account, 10**12)
        merchants.append((key, account.number))
    payees = [
        AccountFactory(merchant=None, currency="EUR", number=f"SOAKPAYEE{i:03d}").number
        for i in range(50)
    ]
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    server = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "-c", "config/gunicorn.py", "config.wsgi"],
        cwd=ROOT,
        env=server_env(port),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    statuses: Counter[int] = Counter()
    created: dict[str, str] = {}  # Idempotency-Key -> payment id
    sent: dict[str, tuple[str, dict]] = {}  # Idempotency-Key -> (API key, body) of a 201
    replays: list[tuple[int, str, str, str]] = []
    transport_errors: list[str] = []
    lock = threading.Lock()
    try:
        wait_ready(f"{base}/readyz", server)
        deadline = time.monotonic() + SECONDS

        def client(n: int) -> None:
            key, debtor = merchants[n % MERCHANTS]
            i = 0
            while time.monotonic() < deadline:
                idempotency_key = f"soak-{n}-{i}-{uuid.uuid4().hex}"
                body = {
                    "debtor_account": debtor,
                    "creditor_account": payees[(n + i) % len(payees)],
                    "amount": f"{1 + i % 50}.{n % 100:02d}",
                    "currency": "EUR",
                    "reference": f"soak {n} {i}",
                }
                try:
                    status, answer, _ = post(f"{base}/api/v1/payments/", key, body, idempotency_key)
                except OSError as error:
                    with lock:
                        transport_errors.append(repr(error))
                    continue
                with lock:
                    statuses[status] += 1
                    if status == 201:
                        created[idempotency_key] = answer["id"]
                        sent[idempotency_key] = (key, body)
                i += 1

        threads = [threading.Thread(target=client, args=(n,)) for n in range(CLIENTS)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=SECONDS + 120)

        # A replayed key answers the first response, and makes no second payment.
        for idempotency_key in list(sent)[:20]:
            key, body = sent[idempotency_key]
            status, answer, headers = post(f"{base}/api/v1/payments/", key, body, idempotency_key)
            replays.append(
                (
                    status,
                    answer.get("id", ""),
                    created[idempotency_key],
                    headers.get("Idempotent-Replayed", ""),
                )
            )
    finally:
        os.killpg(server.pid, 15)
        server.wait(timeout=30)

    # then
    print(f"soak: {dict(statuses)}, transport errors: {len(transport_errors)}")
    assert not [s for s in statuses if s >= 500], statuses
    assert not transport_errors, transport_errors[:5]
    assert statuses[201] > 0 and set(statuses) <= {201, 429}, statuses
    payments = dict(Payment.objects.filter(batch_id__isnull=True).values_list("id", "status"))
    assert len(payments) == statuses[201] == len(set(created.values()))
    assert {str(p) for p in payments} == set(created.values())
    assert set(payments.values()) <= {"completed", "failed"}
    assert replays and all(
        status == 201 and replayed_id == first_id and flag == "true"
        for status, replayed_id, first_id, flag in replays
    ), replays
    assert ledger_verify()["ok"]
