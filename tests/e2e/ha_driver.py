"""The HA test's driver, run inside the client namespace (tests/e2e/test_ha_cluster.py):
real-time payments flow through both web hosts while a batch executes; the PostgreSQL
primary's host is killed, then the Redis master's; the client's view is recorded, and
after the batch completes every promise the clients were given is checked. Prints one
JSON object."""

from __future__ import annotations

import json
import os
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
django.setup()

from django.core.management import call_command  # noqa: E402
from django.db import InterfaceError, OperationalError, close_old_connections  # noqa: E402

from accounts.identity import roles  # noqa: E402
from accounts.identity.audit import Actor, verify_chain  # noqa: E402
from accounts.ledger.selectors import ledger_verify  # noqa: E402
from batches import services as batch_services  # noqa: E402
from batches.models import Batch, BatchItem  # noqa: E402
from common import redis_client  # noqa: E402
from common.db import cluster  # noqa: E402
from common.db.routing import replica_alias  # noqa: E402
from payments import api_keys  # noqa: E402
from payments.models import IdempotencyRecord, Payment  # noqa: E402
from tests.factories import AccountFactory, MerchantFactory, fund  # noqa: E402
from tests.helpers import fresh_code, make_operator  # noqa: E402

WEB = json.loads(os.environ["HA_WEB"])  # ["http://10.x.0.11:8000", ...]
NAMESPACES = json.loads(os.environ["HA_NAMESPACES"])  # {"db1": "<netns>", ...}
ADDRESSES = json.loads(os.environ["HA_ADDRESSES"])  # {"db1": "10.x.0.41", ...}
ROWS = int(os.environ.get("HA_ROWS", 20_000))
DEADLINE = time.monotonic() + float(os.environ.get("HA_SECONDS", 420))
result: dict = {"ok": False}


def db(function, *args, **kwargs):
    """The driver's own reads and writes, through a failover: retried on a lost connection."""
    while True:
        try:
            return function(*args, **kwargs)
        except (OperationalError, InterfaceError):
            close_old_connections()
            if time.monotonic() > DEADLINE:
                raise
            time.sleep(0.5)


def wait(what: str, condition, step: float = 0.2):
    while time.monotonic() < DEADLINE:
        value = db(condition)
        if value:
            return value
        time.sleep(step)
    raise SystemExit(json.dumps({**result, "ok": False, "timeout": what}, default=str))


def call(method: str, url: str, key: str, body: bytes, content_type: str, **headers):
    request = urllib.request.Request(
        url,
        data=body,
        method=method,
        headers={"Authorization": f"Bearer {key}", "Content-Type": content_type, **headers},
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        try:
            return error.code, json.loads(error.read() or b"{}")
        except ValueError:
            return error.code, {}


# --- the hub's set-up ----------------------------------------------------------------
merchant = MerchantFactory(name="HA")
_, api_key = api_keys.api_key_create(merchant=merchant, name="t", actor=Actor.system("t"))
debtor = AccountFactory(merchant=merchant, currency="EUR", number="HADEBTOR")
payer = AccountFactory(merchant=merchant, currency="EUR", number="HAPAYER")
fund(debtor, ROWS * 1000 + 10_000_000)
fund(payer, 100_000_000)
payees = [
    AccountFactory(merchant=None, currency="EUR", number=f"HAPAYEE{i:03d}") for i in range(200)
]
checkers = [make_operator(roles.APPROVER, username=f"ha-checker{i}") for i in (1, 2)]


# --- real-time payments at both web hosts, each retried with its own key until 201 -----
class Traffic(threading.Thread):
    def __init__(self, url: str, index: int):
        super().__init__(daemon=True)
        self.url, self.index = url, index
        self.attempts: list[tuple[float, float, int]] = []  # (sent, answered, status)
        self.paid: dict[str, str] = {}  # Idempotency-Key -> the payment id answered 201
        self.stop = threading.Event()

    def run(self) -> None:
        n = 0
        while not self.stop.is_set():
            n += 1
            key = f"ha-{self.index}-{n}-{uuid.uuid4().hex}"
            body = json.dumps(
                {
                    "debtor_account": payer.number,
                    "creditor_account": payees[n % len(payees)].number,
                    "amount": "1.00",
                    "currency": "EUR",
                }
            ).encode()
            while time.monotonic() < DEADLINE:  # a key is never abandoned before its 201
                sent = time.monotonic()
                try:
                    status, answer = call(
                        "POST",
                        f"{self.url}/api/v1/payments/",
                        api_key,
                        body,
                        "application/json",
                        **{"Idempotency-Key": key},
                    )
                except OSError:  # refused, reset, timed out: the web host's own trouble
                    status, answer = 0, {}
                self.attempts.append((sent, time.monotonic(), status))
                if status == 201:
                    self.paid[key] = answer["id"]
                    break
                time.sleep(0.2)
            time.sleep(0.05)


traffic = [Traffic(url, i) for i, url in enumerate(WEB)]
for thread in traffic:
    thread.start()


def outage(killed_at: float, until: float) -> dict:
    """The clients' view of one kill: failed attempts, and when payments were back for good
    (the first 201 to a request sent after the last failure)."""
    attempts = [a for t in traffic for a in t.attempts if killed_at <= a[1] < until]
    failed = [a for a in attempts if a[2] != 201]
    last_failure = max((a[1] for a in failed), default=killed_at)
    back = min((a[1] for a in attempts if a[2] == 201 and a[0] >= last_failure), default=None)
    return {
        "failed_attempts": len(failed),
        "statuses": sorted({a[2] for a in failed}),
        "payments_back_after_s": round(back - killed_at, 2) if back else None,
    }


def back_since(killed_at: float) -> bool:
    """Payments succeed again: two 201s in a row after the kill's last failure, both sent
    after the kill (as `outage` counts them: a request in flight at the kill that is answered
    after it says nothing of the failover)."""
    attempts = sorted(a for t in traffic for a in t.attempts if a[0] >= killed_at)
    return len(attempts) >= 2 and all(a[2] == 201 for a in attempts[-2:])


# --- a batch uploaded, validated, approved, executing ----------------------------------
lines = ["creditor_account,amount,currency,reference,end_to_end_id"]
for row in range(1, ROWS + 1):
    creditor = "NOSUCHACCOUNT" if row % 1000 == 0 else payees[row % len(payees)].number
    lines.append(f"{creditor},{1 + row % 7}.{row % 100:02d},EUR,pay {row},H{row}")
boundary = uuid.uuid4().hex
multipart = (
    (
        f'--{boundary}\r\nContent-Disposition: form-data; name="debtor_account"\r\n\r\n'
        f'{debtor.number}\r\n--{boundary}\r\nContent-Disposition: form-data; name="file"; '
        f'filename="ha.csv"\r\nContent-Type: text/csv\r\n\r\n'
    ).encode()
    + "\n".join(lines).encode()
    + f"\r\n--{boundary}--\r\n".encode()
)
status, answer = call(
    "POST",
    f"{WEB[1]}/api/v1/batches/",
    api_key,
    multipart,
    f"multipart/form-data; boundary={boundary}",
)
result["upload_status"] = status
batch_id = answer["id"]
batch = wait(
    "validation", lambda: Batch.objects.filter(pk=batch_id, status="awaiting_approval").first()
)
for checker in checkers:
    batch_services.batch_approve(
        batch_id=batch_id,
        approver=checker,
        confirm_mismatches=True,  # synthetic payee names: VoP mismatches, confirmed
        actor=Actor.for_user(checker),
        otp_token=fresh_code(checker),
    )


def processed() -> int:
    return Batch.objects.get(pk=batch_id).processed_count


def primary() -> str | None:
    """The database host whose Patroni answers 200 on /primary."""
    for host in ("db1", "db2", "db3"):
        try:
            with urllib.request.urlopen(f"http://{ADDRESSES[host]}:8008/primary", timeout=1):
                return host
        except (OSError, urllib.error.HTTPError):
            continue
    return None


def kill(host: str) -> int:
    import signal
    import subprocess

    listed = subprocess.run(
        ["ip", "netns", "pids", NAMESPACES[host]], capture_output=True, text=True, check=True
    ).stdout.split()
    for pid in listed:
        try:
            os.kill(int(pid), signal.SIGKILL)
        except ProcessLookupError:
            pass
    return len(listed)


def replica_delay() -> float:
    """How long the newest payment a client was answered takes to show on the replica
    alias (a standby): an upper bound of its staleness, seen from the hub."""
    last_paid = list(traffic[0].paid.values())[-1]
    seen = time.monotonic()
    wait(
        "the last payment on the replica",
        lambda: Payment.objects.using(replica_alias()).filter(pk=last_paid).exists(),
        step=0.005,
    )
    return round(time.monotonic() - seen, 3)


# --- kill the PostgreSQL primary's host mid-batch ---------------------------------------
wait("execution under way", lambda: processed() >= 500, step=0.1)
result["replica_showed_a_payment_after_s"] = {"during_execution": replica_delay()}
result["replica_role_before_kill"] = db(lambda: cluster.server(replica_alias())).role
wait("execution under way", lambda: processed() >= 1000, step=0.1)
old_primary = primary()
result["db_killed_host"] = old_primary
paid_before_db_kill = {k: v for t in traffic for k, v in t.paid.items()}
db_killed = time.monotonic()
result["db_killed_processes"] = kill(old_primary)
result["db_killed_at_rows"] = db(processed)
wait("payments after the database failover", lambda: back_since(db_killed), step=0.2)
result["new_primary"] = wait("a new primary", primary)
result["db_outage"] = outage(db_killed, time.monotonic())


def readyz(url: str) -> dict:
    try:
        with urllib.request.urlopen(f"{url}/readyz", timeout=5) as response:
            return json.loads(response.read())
    except urllib.error.HTTPError as error:
        return json.loads(error.read() or b"{}")


# What each web host's /readyz says now: the new primary, the replica and its lag
result["readyz_after_db_failover"] = {url: readyz(url) for url in WEB}
result["new_primary_address"] = f"{ADDRESSES[result['new_primary']]}:5432"
# A connection on the standby that was promoted stays on it (now the primary) until it is
# recycled (CONN_MAX_AGE): an information, not a fault.
result["replica_role_after_failover"] = db(lambda: cluster.server(replica_alias())).role
result["replica_showed_a_payment_after_s"]["after_failover"] = replica_delay()

# --- later, kill the Redis master's host --------------------------------------------------
time.sleep(3)
rows_now = db(processed)
by_address = {address: host for host, address in ADDRESSES.items()}
redis_host = by_address[redis_client.master_address()[0]]
result["redis_killed_host"] = redis_host
redis_killed = time.monotonic()
result["redis_killed_processes"] = kill(redis_host)
result["redis_killed_at_rows"] = rows_now
result["redis_killed_mid_batch"] = db(
    lambda: Batch.objects.filter(pk=batch_id, status="executing").exists()
)


def new_master() -> str | None:
    try:
        address = redis_client.master_address()
    except Exception:  # noqa: BLE001 - sentinels still deciding
        return None
    host = by_address.get(address[0]) if address else None
    return host if host and host != redis_host else None


result["new_redis_master"] = wait("a new Redis master", new_master, step=0.1)
result["sentinel_promoted_after_s"] = round(time.monotonic() - redis_killed, 2)
wait("payments after the Redis failover", lambda: back_since(redis_killed), step=0.2)
result["redis_outage"] = outage(redis_killed, time.monotonic())

# --- the batch completes; then every promise is checked -----------------------------------
done = wait(
    "the batch completing",
    lambda: Batch.objects.filter(pk=batch_id).exclude(status__in=["executing", "approved"]).first(),
    step=0.5,
)
for thread in traffic:
    thread.stop.set()
for thread in traffic:
    thread.join(timeout=60)
close_old_connections()

paid = {k: v for t in traffic for k, v in t.paid.items()}
api_payments = Payment.objects.filter(merchant=merchant, batch_id__isnull=True)
ids_in_db = set(str(pk) for pk in api_payments.values_list("id", flat=True))
batch_payments = Payment.objects.filter(batch_id=batch_id)
audit = verify_chain()
result.update(
    {
        "api_payments_answered_201": len(paid),
        "api_payments_by_web_host": {t.url: len(t.paid) for t in traffic},
        "api_attempts": sum(len(t.attempts) for t in traffic),
        "api_payments_in_db": len(ids_in_db),
        "answered_201_missing": sorted(set(paid.values()) - ids_in_db)[:10],
        "answered_before_db_kill_missing": len(set(paid_before_db_kill.values()) - ids_in_db),
        "keys_recorded": IdempotencyRecord.objects.filter(
            merchant=merchant, key__in=list(paid)
        ).count(),
        "batch_status": done.status,
        "valid_rows": batch.valid_count,
        "batch_payments": batch_payments.count(),
        "batch_distinct_rows": batch_payments.values("batch_row").distinct().count(),
        "rows_left_valid": BatchItem.objects.filter(batch_id=batch_id, status="valid").count(),
        "ledger_ok": ledger_verify()["ok"],
        "audit_ok": audit["ok"],
    }
)
call_command("verify_ledger", verbosity=0)
result["ok"] = True
print(json.dumps(result, default=str))
sys.exit(0)
