"""The hub on many hosts, proven on one machine with Linux network namespaces.

Six namespaces on one bridge (in a namespace of its own: the machine's network is not
touched): `db` runs PostgreSQL and Redis from the local binaries, bound to its address;
`web1`, `web2` run gunicorn (config/gunicorn.py); `wk1`, `wk2` run an RQ worker each
(`web2` also runs rqcron, whose outbox sweep resumes the killed work); `cl` runs tests/e2e/many_hosts_driver.py.
API traffic goes to both web hosts; a batch (MANY_HOSTS_ROWS, default 20,000 rows) is
uploaded, validated and executed by the worker hosts; the one executing it is killed
mid-batch and the other finishes: every row paid once, verify_ledger ok. Each host has a
DATA_DIR of its own: the batch file goes from a web host to the workers through PostgreSQL.

Needs root and `ip`; bounded in time (MANY_HOSTS_SECONDS); every namespace and process
is removed even on failure.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from tests.e2e.netns import Network, sh, wait_port

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(
        os.geteuid() != 0 or not shutil.which("ip"), reason="needs root and iproute2"
    ),
]

ROOT = Path(__file__).resolve().parents[2]
PG_BIN = (
    sorted(Path("/usr/lib/postgresql").glob("*/bin"))[-1]
    if Path("/usr/lib/postgresql").exists()
    else None
)
HOSTS = {"db": 10, "web1": 11, "web2": 12, "wk1": 21, "wk2": 22, "cl": 30}


@pytest.mark.skipif(
    PG_BIN is None or not shutil.which("redis-server"), reason="needs PostgreSQL and Redis binaries"
)
def test_two_web_hosts_two_worker_hosts_one_killed_mid_batch():
    assert PG_BIN is not None
    network = Network(HOSTS)
    scratch = Path(tempfile.mkdtemp(prefix="payhub-many-hosts-"))
    scratch.chmod(0o755)  # PostgreSQL's own user reads its data directory below
    logs = scratch / "logs"
    logs.mkdir()
    try:
        network.build()
        db = network.address("db")
        # PostgreSQL refuses to run as root: its own user, its own data directory.
        data = scratch / "pg"
        data.mkdir()
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
        with (data / "pg_hba.conf").open("a") as hba:
            hba.write(f"host all all {network.subnet}.0/24 trust\n")
        postgres = network.start(
            "db",
            [
                "runuser",
                "-u",
                "postgres",
                "--",
                str(PG_BIN / "postgres"),
                "-D",
                str(data),
                "-c",
                f"listen_addresses={db}",
                "-c",
                "unix_socket_directories=",
                "-c",
                "fsync=off",
                "-c",
                "max_connections=60",
            ],
            dict(os.environ),
            logs / "postgres.log",
        )
        redis = network.start(
            "db",
            [
                "redis-server",
                "--bind",
                db,
                "--port",
                "6379",
                "--save",
                "",
                "--appendonly",
                "no",
                "--protected-mode",
                "no",
            ],
            dict(os.environ),
            logs / "redis.log",
        )
        wait_port(network, "db", 5432, postgres)
        wait_port(network, "db", 6379, redis)

        env = {
            k: v
            for k, v in os.environ.items()
            if k not in {"DJANGO_SETTINGS_MODULE", "PROMETHEUS_MULTIPROC_DIR"}
        }
        env.update(
            {
                "DATABASE_URL": f"postgres://postgres@{db}:5432/postgres",
                "REDIS_URL": f"redis://{db}:6379/0",
                "SECRET_KEY": "many-hosts-test-secret-key-" + "x" * 30,
                # The keys outside the database, the same on every host (a file under each
                # host's DATA_DIR would seal, MAC and chain with a key of its own).
                "FIELD_ENCRYPTION_KEYS": "bWFueS1ob3N0cy1maWVsZC1lbmNyeXB0aW9uLWtleSE=",
                "ALLOWED_HOSTS": ",".join(network.address(h) for h in ("web1", "web2")),
                "API_THROTTLE_RATE": "100000/second",
                "LOG_LEVEL": "WARNING",
                "BATCH_CHUNK_SIZE": "500",
                "OUTBOX_HEARTBEAT_SECONDS": "1",
                "OUTBOX_SWEEP_SECONDS": "2",
                "SECURE_COOKIES": "false",
            }
        )
        # Each host has a DATA_DIR of its own: nothing but PostgreSQL and Redis is shared
        # (the batch files are in the database).
        envs = {}
        for host in ("web1", "web2", "wk1", "wk2", "cl"):
            (scratch / host / "var").mkdir(parents=True)
            envs[host] = {**env, "DATA_DIR": str(scratch / host / "var")}
        manage = [sys.executable, "manage.py"]
        migrate = subprocess.run(
            ["ip", "netns", "exec", network.ns("cl"), *manage, "migrate", "-v", "0"],
            cwd=ROOT,
            env=envs["cl"],
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert migrate.returncode == 0, migrate.stderr[-2000:]
        webs = []
        for host in ("web1", "web2"):
            web = network.start(
                host,
                [sys.executable, "-m", "gunicorn", "-c", "config/gunicorn.py", "config.wsgi"],
                {**envs[host], "BIND": f"{network.address(host)}:8000", "WEB_CONCURRENCY": "2"},
                logs / f"{host}.log",
            )
            webs.append((host, web))
        groups = {}
        for host in ("wk1", "wk2"):
            network.start(
                host,
                [*manage, "rqworker", "batches", "default", "--name", f"{host}-{os.getpid()}"],
                envs[host],
                logs / f"{host}.log",
            )
            groups[host] = network.ns(host)
        # The scheduler on a web host: killing a worker host must not take the sweep with it.
        network.start("web2", [*manage, "rqcron", "config.cron"], envs["web2"], logs / "rqcron.log")
        for host, web in webs:
            wait_port(network, host, 8000, web)

        driver = subprocess.run(
            [
                "ip",
                "netns",
                "exec",
                network.ns("cl"),
                sys.executable,
                "-m",
                "tests.e2e.many_hosts_driver",
            ],
            cwd=ROOT,
            env={
                **envs["cl"],
                "MANY_HOSTS_WEB": json.dumps(
                    [f"http://{network.address(h)}:8000" for h in ("web1", "web2")]
                ),
                "MANY_HOSTS_WORKERS": json.dumps(groups),
                "MANY_HOSTS_SECONDS": os.environ.get("MANY_HOSTS_SECONDS", "420"),
            },
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert driver.returncode == 0, driver.stdout[-2000:] + driver.stderr[-3000:]
        result = json.loads(driver.stdout.strip().splitlines()[-1])
        print("many hosts:", result)

        assert all(count == 20 for count in result["api_payments_by_web_host"].values()), result
        assert result["upload_status"] == 201
        assert result["killed_mid_batch"], result
        assert result["batch_status"] == "completed_with_errors", result
        assert result["payments"] == result["distinct_rows"] == result["valid_rows"], result
        assert result["rows_left_valid"] == 0
        assert result["ledger_ok"]
    finally:
        network.tear_down()
        for log in sorted(logs.glob("*.log")):  # shown by pytest when the test failed
            print(f"--- {log.name}", log.read_text(errors="replace")[-1500:], sep="\n")
        shutil.rmtree(scratch, ignore_errors=True)
