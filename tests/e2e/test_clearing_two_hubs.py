"""Two hubs paying each other's customers, each hub on a network host of its own (a Linux
network namespace running its own PostgreSQL, Redis, gunicorn, RQ worker and rqcron), the
merchants' client on a third.

- basic: a payment A -> B completes, B's customer is credited once, both statements show it;
  AC01, AC04, AC06 come back with nothing moved; the positions mirror; verify_ledger ok.
- batch: a 1,000-row pain.001 at A to B's customers, some of whose accounts B refuses
  (closed, frozen, unknown), is approved, executed by A's worker and sent through the
  network; it completes with errors, its pain.002 says ACSC for each row B credited and RJCT
  with B's reason for the others, and the positions mirror.
- fault: while payments flow each way, B's host is cut off (its link down) for ~20 s and
  B's web process is killed and restarted; afterwards nothing is pending, every transfer has
  the same outcome on both hubs, the positions mirror and verify_ledger is ok on both.

Needs root, iproute2 and the PostgreSQL and Redis binaries (as tests/e2e/test_many_hosts.py).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.e2e.test_many_hosts import PG_BIN, ROOT, sh

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(
        os.geteuid() != 0
        or not shutil.which("ip")
        or PG_BIN is None
        or not shutil.which("redis-server"),
        reason="needs root, iproute2, PostgreSQL and Redis binaries",
    ),
]

HOSTS = {"a": 11, "b": 12, "cl": 30}
BANKS = {
    "a": {"bic": "HUBADEFFXXX", "country": "DE", "bank": "10010010", "prefix": "DE10010010"},
    "b": {"bic": "HUBBFRPPXXX", "country": "FR", "bank": "20041", "prefix": "FR20041"},
}


def iban(country: str, bban: str) -> str:
    digits = "".join(str(int(char, 36)) for char in bban + country + "00")
    return f"{country}{98 - int(digits) % 97:02d}{bban}"


def customer(hub: str, n: int) -> str:
    bank = BANKS[hub]
    filler = "0" * (10 if hub == "a" else 6)
    return iban(bank["country"], f"{bank['bank']}{filler}{n:05d}" + ("" if hub == "a" else "00"))


class TwoHubs:
    def __init__(self) -> None:
        self.tag = f"pc{os.getpid() % 10000}"
        self.subnet = f"10.214.{os.getpid() % 200 + 20}"
        self.switch = f"{self.tag}sw"
        self.namespaces: list[str] = []
        self.processes: dict[str, subprocess.Popen] = {}
        self.scratch = Path(tempfile.mkdtemp(prefix="payhub-clearing-"))
        self.scratch.chmod(0o755)
        self.logs = self.scratch / "logs"
        self.logs.mkdir()

    def ns(self, host: str) -> str:
        return f"{self.tag}{host}"

    def link(self, host: str) -> str:
        return f"{self.tag}{host}o"[:15]

    def address(self, host: str) -> str:
        return f"{self.subnet}.{HOSTS[host]}"

    def url(self, hub: str) -> str:
        return f"http://{self.address(hub)}:8000"

    def build(self) -> None:
        sh("ip", "netns", "add", self.switch)
        self.namespaces.append(self.switch)
        sh("ip", "netns", "exec", self.switch, "ip", "link", "add", "br0", "type", "bridge")
        sh("ip", "netns", "exec", self.switch, "ip", "link", "set", "br0", "up")
        for host in HOSTS:
            name = self.ns(host)
            sh("ip", "netns", "add", name)
            self.namespaces.append(name)
            inside, outside = f"{self.tag}{host}i"[:15], self.link(host)
            sh("ip", "link", "add", inside, "type", "veth", "peer", "name", outside)
            sh("ip", "link", "set", inside, "netns", name)
            sh("ip", "link", "set", outside, "netns", self.switch)
            sh("ip", "netns", "exec", self.switch, "ip", "link", "set", outside, "master", "br0")
            sh("ip", "netns", "exec", self.switch, "ip", "link", "set", outside, "up")
            sh(
                "ip",
                "netns",
                "exec",
                name,
                "ip",
                "addr",
                "add",
                f"{self.address(host)}/24",
                "dev",
                inside,
            )
            sh("ip", "netns", "exec", name, "ip", "link", "set", inside, "up")
            sh("ip", "netns", "exec", name, "ip", "link", "set", "lo", "up")

    def cut(self, host: str, down: bool) -> None:
        """The host's cable: its end on the switch goes down (or up again)."""
        state = "down" if down else "up"
        sh("ip", "netns", "exec", self.switch, "ip", "link", "set", self.link(host), state)

    def start(
        self, host: str, name: str, command: list[str], env: dict[str, str]
    ) -> subprocess.Popen:
        process = subprocess.Popen(
            ["ip", "netns", "exec", self.ns(host), *command],
            cwd=ROOT,
            env=env,
            stdout=(self.logs / f"{host}-{name}.log").open("ab"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.processes[f"{host}-{name}"] = process
        return process

    def stop(self, key: str) -> None:
        process = self.processes.pop(key)
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        process.wait(timeout=20)

    def wait_port(self, host: str, port: int, process: subprocess.Popen, seconds=90) -> None:
        deadline = time.monotonic() + seconds
        probe = f"import socket; socket.create_connection(('127.0.0.1', {port}), 1)"
        while time.monotonic() < deadline:
            assert process.poll() is None, f"{host}:{port} exited"
            if (
                sh(
                    "ip", "netns", "exec", self.ns(host), sys.executable, "-c", probe, check=False
                ).returncode
                == 0
            ):
                return
            time.sleep(0.3)
        raise AssertionError(f"{host}:{port} never answered")

    def env(self, hub: str) -> dict[str, str]:
        if hub == "cl":
            return {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
        env = {
            k: v
            for k, v in os.environ.items()
            if k not in {"DJANGO_SETTINGS_MODULE", "PROMETHEUS_MULTIPROC_DIR"}
        }
        data_dir = self.scratch / hub / "var"
        data_dir.mkdir(parents=True, exist_ok=True)
        env.update(
            {
                "DATABASE_URL": "postgres://postgres@127.0.0.1:5432/postgres",
                "REDIS_URL": "redis://127.0.0.1:6379/0",
                "DATA_DIR": str(data_dir),
                "SECRET_KEY": f"clearing-test-{hub}-" + "x" * 40,
                "ALLOWED_HOSTS": f"{self.address(hub)},127.0.0.1",
                "HUB_BIC": BANKS[hub]["bic"],
                "PUBLIC_URL": self.url(hub),
                "API_THROTTLE_RATE": "100000/second",
                "LOG_LEVEL": "WARNING",
                "OUTBOX_HEARTBEAT_SECONDS": "1",
                "OUTBOX_SWEEP_SECONDS": "2",
                "SECURE_COOKIES": "false",
                "CLEARING_HTTP_TIMEOUT": "3",
            }
        )
        return env

    def manage(self, hub: str, *args: str) -> dict:
        done = subprocess.run(
            ["ip", "netns", "exec", self.ns(hub), sys.executable, "manage.py", *args],
            cwd=ROOT,
            env=self.env(hub),
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert done.returncode == 0, f"{args}: {done.stdout[-1000:]} {done.stderr[-2000:]}"
        lines = [line for line in done.stdout.strip().splitlines() if line.startswith(("{", "<"))]
        return (
            json.loads(lines[-1]) if lines and lines[-1].startswith("{") else {"out": done.stdout}
        )

    def start_servers(self, hub: str) -> None:
        assert PG_BIN is not None
        data = self.scratch / hub / "pg"
        data.mkdir(parents=True)
        shutil.chown(data, "postgres", "postgres")
        sh(
            "runuser",
            "-u",
            "postgres",
            "--",
            str(PG_BIN / "initdb"),
            "-D",
            str(data),
            "-A",
            "trust",
            "-U",
            "postgres",
        )
        postgres = self.start(
            hub,
            "postgres",
            [
                "runuser",
                "-u",
                "postgres",
                "--",
                str(PG_BIN / "postgres"),
                "-D",
                str(data),
                "-c",
                "listen_addresses=127.0.0.1",
                "-c",
                "unix_socket_directories=",
                "-c",
                "fsync=off",
                "-c",
                "max_connections=60",
            ],
            dict(os.environ),
        )
        redis = self.start(
            hub,
            "redis",
            [
                "redis-server",
                "--bind",
                "127.0.0.1",
                "--port",
                "6379",
                "--save",
                "",
                "--appendonly",
                "no",
            ],
            dict(os.environ),
        )
        self.wait_port(hub, 5432, postgres)
        self.wait_port(hub, 6379, redis)

    def start_web(self, hub: str) -> None:
        web = self.start(
            hub,
            "web",
            [sys.executable, "-m", "gunicorn", "-c", "config/gunicorn.py", "config.wsgi"],
            {**self.env(hub), "BIND": "0.0.0.0:8000", "WEB_CONCURRENCY": "2", "WEB_THREADS": "8"},
        )
        self.wait_port(hub, 8000, web)

    def start_hub(self, hub: str) -> None:
        self.start_servers(hub)
        self.manage(hub, "migrate", "-v", "0")
        self.start_web(hub)
        self.start(
            hub,
            "worker",
            [sys.executable, "manage.py", "rqworker", "default", "webhooks", "batches"],
            self.env(hub),
        )
        self.start(
            hub, "cron", [sys.executable, "manage.py", "rqcron", "config.cron"], self.env(hub)
        )

    def seed(self, hub: str) -> dict:
        """A merchant with a funded account, and owner-less customers: one to close and
        one to freeze (for AC04 and AC06). One Django start-up, through the services."""
        account, closed, frozen = customer(hub, 1), customer(hub, 2), customer(hub, 3)
        script = (
            "import json\n"
            "from accounts.identity.audit import Actor\n"
            "from accounts.ledger import services\n"
            "from payments.api_keys import api_key_create\n"
            "actor = Actor.system('clearing e2e')\n"
            f"merchant = services.merchant_create(name='Merchant {hub.upper()}', actor=actor)\n"
            f"services.account_open(currency='EUR', merchant_id=merchant.pk, number='{account}', actor=actor)\n"
            f"services.account_fund(number='{account}', amount='100000.00', actor=actor)\n"
            "_row, key = api_key_create(merchant=merchant, name='e2e', actor=actor)\n"
            f"closed = services.account_open(currency='EUR', number='{closed}', actor=actor)\n"
            f"frozen = services.account_open(currency='EUR', number='{frozen}', actor=actor)\n"
            "services.account_close(account_id=closed.pk, actor=actor)\n"
            "services.account_freeze(account_id=frozen.pk, actor=actor)\n"
            "print(json.dumps({'key': key}))\n"
        )
        key = self.manage(hub, "shell", "-c", script)["key"]
        return {
            "url": self.url(hub),
            "key": key,
            "account": account,
            "closed": closed,
            "frozen": frozen,
            "unknown": customer(hub, 9),
        }

    def join(self) -> dict:
        seeds = {hub: self.seed(hub) for hub in ("a", "b")}
        ids = {hub: self.manage(hub, "clearing_identity") for hub in ("a", "b")}
        for hub, other in (("a", "b"), ("b", "a")):
            self.manage(
                hub,
                "clearing_peer_add",
                "--bic",
                ids[other]["bic"],
                "--url",
                ids[other]["url"],
                "--public-key",
                ids[other]["public_key"],
                "--iban-prefix",
                BANKS[other]["prefix"],
            )
        return seeds

    def driver(self, phase: str, seeds: dict, **env: str) -> subprocess.Popen:
        return subprocess.Popen(
            [
                "ip",
                "netns",
                "exec",
                self.ns("cl"),
                sys.executable,
                "-m",
                "tests.e2e.clearing_driver",
                phase,
            ],
            cwd=ROOT,
            env={**self.env("cl"), "CLEARING_HUBS": json.dumps(seeds), **env},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    def tear_down(self) -> None:
        for key in list(self.processes):
            self.stop(key)
        for name in reversed(self.namespaces):
            for pid in sh("ip", "netns", "pids", name, check=False).stdout.split():
                try:
                    os.kill(int(pid), signal.SIGKILL)
                except (ProcessLookupError, ValueError):
                    pass
            sh("ip", "netns", "del", name, check=False)
        for log in sorted(self.logs.glob("*.log")):
            print(f"--- {log.name}", log.read_text(errors="replace")[-1500:], sep="\n")
        shutil.rmtree(self.scratch, ignore_errors=True)


@pytest.fixture
def hubs():
    hubs = TwoHubs()
    try:
        hubs.build()
        for hub in ("a", "b"):
            hubs.start_hub(hub)
        yield hubs, hubs.join()
    finally:
        hubs.tear_down()


def _finish(process: subprocess.Popen, timeout: float) -> dict:
    stdout, stderr = process.communicate(timeout=timeout)
    assert process.returncode == 0, stdout[-2000:] + stderr[-3000:]
    return json.loads(stdout.strip().splitlines()[-1])


def _mirror_and_verify(hubs: TwoHubs) -> None:
    positions = {
        hub: hubs.manage(hub, "clearing_position", "--bic", BANKS[other]["bic"])["position"]
        for hub, other in (("a", "b"), ("b", "a"))
    }
    from decimal import Decimal

    assert Decimal(positions["a"]) == -Decimal(positions["b"]), positions
    for hub in ("a", "b"):
        assert hubs.manage(hub, "verify_ledger")["ok"] is True


def test_a_payment_between_hubs_and_the_rejections(hubs):
    hubs, seeds = hubs
    result = _finish(hubs.driver("basic", seeds), timeout=300)
    print("basic:", json.dumps(result)[:3000])
    paid = result["paid"]
    assert (paid["http"], paid["status"]) == (201, "completed")
    assert (paid["direction"], paid["clearing"]["status"]) == ("outgoing", "ACSC")
    assert result["after"] == {"a": "99987.50", "b": "100012.50"}
    (received,) = result["received"]
    assert (
        received["amount"] == "12.50" and received["clearing"]["uetr"] == paid["clearing"]["uetr"]
    )
    assert received["debtor_agent"] == BANKS["a"]["bic"]
    for reason in ("AC01", "AC04", "AC06"):
        refused = result[reason]
        assert (refused["status"], refused["failure_code"]) == ("failed", reason), refused
        assert refused["captured_amount"] == "0.00"
    assert result["final"] == result["after"]  # the rejections moved nothing
    # Both statements show the transfer.
    today = datetime.now(UTC).date().isoformat()
    for hub in ("a", "b"):
        statement = hubs.manage(
            hub,
            "statement_export",
            "--account",
            seeds[hub]["account"],
            "--date",
            today,
            "--format",
            "csv",
        )
        assert "12.50" in statement["out"], statement
        camt053 = hubs.manage(
            hub, "statement_export", "--account", seeds[hub]["account"], "--date", today
        )["out"]
        assert "camt.053" in camt053 and ">12.50</Amt>" in camt053, camt053[-2000:]
    positions = {
        hub: hubs.manage(hub, "clearing_position", "--bic", BANKS[other]["bic"])["position"]
        for hub, other in (("a", "b"), ("b", "a"))
    }
    assert positions == {"a": "-12.50", "b": "12.50"}
    _mirror_and_verify(hubs)


def test_b_cut_off_and_restarted_while_payments_flow_both_ways(hubs):
    hubs, seeds = hubs
    count = os.environ.get("CLEARING_FLOW_COUNT", "200")
    driver = hubs.driver("flow", seeds, CLEARING_FLOW_COUNT=count, CLEARING_FLOW_SECONDS="40")
    time.sleep(10)
    hubs.cut("b", down=True)
    time.sleep(5)
    hubs.stop("b-web")
    time.sleep(15)
    hubs.cut("b", down=False)
    hubs.start_web("b")
    result = _finish(driver, timeout=600)
    print("flow:", json.dumps(result)[:3000])
    assert result["pending"] == {"a": 0, "b": 0}, result
    for side, outcome in result["sides"].items():
        assert outcome["mismatches"] == [], (side, outcome)
        assert outcome["completed"] == outcome["credited"], (side, outcome)
        assert outcome["completed"] > 0, (side, outcome)
    _mirror_and_verify(hubs)


def test_c_a_batch_of_1000_rows_to_the_other_hubs_customers(hubs):
    hubs, seeds = hubs
    payees = [customer("b", 100 + n) for n in range(20)]
    hubs.manage(
        "b",
        "shell",
        "-c",
        "from accounts.identity.audit import Actor\n"
        "from accounts.ledger import services\n"
        f"for number in {payees!r}:\n"
        "    services.account_open(currency='EUR', number=number, actor=Actor.system('e2e'))\n",
    )
    refused = {10: ("closed", "AC04"), 20: ("frozen", "AC06"), 30: ("unknown", "AC01")}
    special = {n: seeds["b"][name] for n, (name, _) in refused.items()}
    run = (
        "import json\nfrom tools import network_batch\n"
        f"payees, special = {payees!r}, {special!r}\n"
        "rows = [(special.get(i % 100) or payees[i % len(payees)], '1.00') for i in range(1000)]\n"
        f"print(json.dumps(network_batch.run(debtor={seeds['a']['account']!r}, rows=rows,"
        " msg_id='E2E-NET-1000', timeout=240)))"
    )
    result = hubs.manage("a", "shell", "-c", run)
    print("batch:", json.dumps(result))
    assert result["status"] == "completed_with_errors", result
    assert (result["rows"], result["valid"], result["pending"]) == (1000, 1000, 0), result
    assert (result["succeeded"], result["failed"]) == (970, 30), result
    report = hubs.manage(
        "a",
        "shell",
        "-c",
        "import json\nfrom tools import network_batch\n"
        f"print(json.dumps(network_batch.report({result['batch']!r})))",
    )
    assert report["group_status"] == "PART"
    assert report["counts"] == {"ACSC": 970, "RJCT AC04": 10, "RJCT AC06": 10, "RJCT AC01": 10}
    for index in range(1000):
        name_reason = refused.get(index % 100)
        expected = f"RJCT {name_reason[1]}" if name_reason else "ACSC"
        assert report["transactions"][f"E2E-NET-1000-{index + 1}"] == expected, index
    positions = {
        hub: hubs.manage(hub, "clearing_position", "--bic", BANKS[other]["bic"])["position"]
        for hub, other in (("a", "b"), ("b", "a"))
    }
    assert positions == {"a": "-970.00", "b": "970.00"}
    _mirror_and_verify(hubs)


def test_d_a_return_and_a_recall_in_both_outcomes(hubs):
    """B's back office returns one received transfer (pacs.004) and answers two recalls
    (camt.056): one accepted (a pacs.004 follows), one refused (camt.029 with its reason).
    A's merchant sees each outcome; the positions mirror and both ledgers verify."""
    hubs, seeds = hubs
    ids = _finish(hubs.driver("returns_setup", seeds), timeout=300)
    print("returns set up:", json.dumps(ids))
    assert ids["recalls_at_b"] == 2, ids
    hubs.manage("b", "clearing_return", "--payment", ids["returned"]["b"], "--reason", "MS02")
    hubs.manage("b", "clearing_recall_answer", "--payment", ids["recall_accepted"]["b"], "--accept")
    hubs.manage(
        "b", "clearing_recall_answer", "--payment", ids["recall_refused"]["b"], "--refuse", "CUST"
    )
    names = {name: ids[name] for name in ("returned", "recall_accepted", "recall_refused")}
    seen = _finish(
        hubs.driver("returns_check", seeds, CLEARING_RETURN_IDS=json.dumps(names)), timeout=300
    )
    print("returns seen at A:", json.dumps(seen))
    assert seen["returned"]["status"] == "returned", seen
    assert seen["recall_accepted"]["status"] == "returned", seen
    assert seen["recall_accepted"]["recall"]["status"] == "accepted", seen
    assert seen["recall_refused"]["status"] == "completed", seen
    assert seen["recall_refused"]["recall"]["status"] == "refused", seen
    _mirror_and_verify(hubs)
