"""The many-hosts test's driver, run inside the client namespace (tests/e2e/test_many_hosts.py):
sets the hub up through the web hosts and the services, runs API traffic at both web hosts,
a batch that the worker hosts execute, kills one worker host mid-batch, and prints one
JSON object of what it saw."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
django.setup()

from django.core.management import call_command  # noqa: E402

call_command("migrate", verbosity=0)

import django_rq  # noqa: E402
from rq import Worker  # noqa: E402

from accounts.identity import roles  # noqa: E402
from accounts.identity.audit import Actor  # noqa: E402
from accounts.ledger.selectors import ledger_verify  # noqa: E402
from batches import services as batch_services  # noqa: E402
from batches.models import Batch, BatchItem  # noqa: E402
from outbox.models import OutboxJob  # noqa: E402
from payments import api_keys  # noqa: E402
from payments.models import Payment  # noqa: E402
from tests.factories import AccountFactory, MerchantFactory, fund  # noqa: E402
from tests.helpers import fresh_code, make_operator  # noqa: E402

WEB = json.loads(os.environ["MANY_HOSTS_WEB"])  # ["http://10.x.0.11:8000", ...]
# {"wk1": "<its network namespace>", ...}: a host's processes are those in its namespace
# (RQ's work horse runs in a session of its own: killing the worker's group spares it).
WORKER_NAMESPACES = json.loads(os.environ["MANY_HOSTS_WORKERS"])
ROWS = int(os.environ.get("MANY_HOSTS_ROWS", 20_000))
DEADLINE = time.monotonic() + float(os.environ.get("MANY_HOSTS_SECONDS", 420))


def call(method: str, url: str, key: str, body: bytes, content_type: str, **headers):
    request = urllib.request.Request(
        url,
        data=body,
        method=method,
        headers={"Authorization": f"Bearer {key}", "Content-Type": content_type, **headers},
    )
    try:
        with urllib.request.urlopen(request, timeout=120) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"{}")


def wait(what: str, condition, step: float = 0.2):
    while time.monotonic() < DEADLINE:
        value = condition()
        if value:
            return value
        time.sleep(step)
    raise SystemExit(json.dumps({"ok": False, "timeout": what, **result}))


result: dict = {"ok": False}
merchant = MerchantFactory(name="Many hosts")
_, key = api_keys.api_key_create(merchant=merchant, name="t", actor=Actor.system("t"))
debtor = AccountFactory(merchant=merchant, currency="EUR", number="MANYDEBTOR")
fund(debtor, ROWS * 1000 + 10_000_000)
payees = [
    AccountFactory(merchant=None, currency="EUR", number=f"MANYPAYEE{i:03d}") for i in range(200)
]
maker = make_operator(roles.OPERATOR, username="many-maker")
checkers = [make_operator(roles.APPROVER, username=f"many-checker{i}") for i in (1, 2)]

# API traffic at both web hosts, every payment with its own Idempotency-Key
answered = {url: 0 for url in WEB}
for n in range(40):
    url = WEB[n % len(WEB)]
    body = {
        "debtor_account": debtor.number,
        "creditor_account": payees[n].number,
        "amount": "1.00",
        "currency": "EUR",
    }
    status, answer = call(
        "POST",
        f"{url}/api/v1/payments/",
        key,
        json.dumps(body).encode(),
        "application/json",
        **{"Idempotency-Key": f"many-{n}-{uuid.uuid4().hex}"},
    )
    if status == 201 and answer["status"] == "completed":
        answered[url] += 1
result["api_payments_by_web_host"] = answered

# A batch uploaded to one web host, validated and executed by the worker hosts
lines = ["creditor_account,amount,currency,reference,end_to_end_id"]
for row in range(1, ROWS + 1):
    creditor = "NOSUCHACCOUNT" if row % 1000 == 0 else payees[row % len(payees)].number
    lines.append(f"{creditor},{1 + row % 7}.{row % 100:02d},EUR,pay {row},M{row}")
boundary = uuid.uuid4().hex
content = "\n".join(lines).encode()
multipart = (
    (
        f'--{boundary}\r\nContent-Disposition: form-data; name="debtor_account"\r\n\r\n'
        f'{debtor.number}\r\n--{boundary}\r\nContent-Disposition: form-data; name="file"; '
        f'filename="many.csv"\r\nContent-Type: text/csv\r\n\r\n'
    ).encode()
    + content
    + f"\r\n--{boundary}--\r\n".encode()
)
status, answer = call(
    "POST",
    f"{WEB[1]}/api/v1/batches/",
    key,
    multipart,
    f"multipart/form-data; boundary={boundary}",
)
result["upload_status"] = status
batch_id = answer["id"]
result["batch_id"] = batch_id
batch = wait(
    "validation",
    lambda: Batch.objects.filter(pk=batch_id, status="awaiting_approval").first(),
)
for checker in checkers:
    batch_services.batch_approve(
        batch_id=batch_id,
        approver=checker,
        confirm_mismatches=True,  # synthetic payee names: VoP mismatches, confirmed
        actor=Actor.for_user(checker),
        otp_token=fresh_code(checker),  # a decision is signed with a fresh code
    )

# Kill the worker host that is executing it, mid-batch
connection = django_rq.get_connection("batches")


def busy_host():
    for worker in Worker.all(connection=connection):
        if worker.get_current_job_id():
            return worker.name.split("-")[0]
    return None


host = wait("a worker host executing", busy_host, step=0.05)
wait("progress", lambda: Batch.objects.get(pk=batch_id).processed_count >= 1000, step=0.05)
pids = subprocess.run(
    ["ip", "netns", "pids", WORKER_NAMESPACES[host]], capture_output=True, text=True, check=True
).stdout.split()
for pid in pids:
    os.kill(int(pid), signal.SIGKILL)
result["killed_processes"] = len(pids)
killed = time.monotonic()
killed_at = Batch.objects.get(pk=batch_id)
result["killed_host"] = host
result["killed_at_row_count"] = killed_at.processed_count
result["killed_mid_batch"] = 0 < killed_at.processed_count < batch.valid_count

# The outbox sends the job again once the dead host's heartbeat stops: how long that took
# (with OUTBOX_HEARTBEAT_SECONDS=1 here; 10 in production) is a figure, not a check.
execute_job = OutboxJob.objects.get(key=f"batch.execute:{batch_id}")
wait(
    "the outbox sending the job again",
    lambda: OutboxJob.objects.get(pk=execute_job.pk).enqueue_count > execute_job.enqueue_count,
    step=0.1,
)
result["resent_after_seconds"] = round(time.monotonic() - killed, 1)
done = wait(
    "the other worker host finishing",
    lambda: Batch.objects.filter(pk=batch_id).exclude(status__in=["executing", "approved"]).first(),
)
payments = Payment.objects.filter(batch_id=batch_id)
result.update(
    {
        "batch_status": done.status,
        "valid_rows": batch.valid_count,
        "payments": payments.count(),
        "distinct_rows": payments.values("batch_row").distinct().count(),
        "rows_left_valid": BatchItem.objects.filter(batch_id=batch_id, status="valid").count(),
        "ledger_ok": ledger_verify()["ok"],
    }
)
result["ok"] = True
print(json.dumps(result))
sys.exit(0)
