"""Any one machine may die: the hub on a Patroni cluster and Redis under Sentinel, proven
on one machine with Linux network namespaces (issue 21).

Eleven hosts on one bridge (in a namespace of its own): `db1`-`db3` run etcd, Patroni and
PostgreSQL (synchronous mode: a commit is acknowledged once a standby has it), `rd1`-`rd3`
run Redis (a master, two replicas) and a sentinel each, `web1`, `web2` gunicorn (`web2`
also rqcron), `wk1`, `wk2` an RQ worker each, `cl` tests/e2e/ha_driver.py. The hub finds
the primary with libpq's multi-host URL (target_session_attrs=read-write) and the Redis
master through the sentinels. While payments flow through both web hosts and a 20,000-row
batch executes, every process of the primary's host is killed, later those of the Redis
master's host. Afterwards: every payment answered 201 is there once, every batch row paid
once, the batch complete, the ledger and the audit chain verified; the time until payments
succeed again after each kill is printed (BENCHMARKS.md).

Needs root, `ip` and the Debian packages etcd-server, patroni, redis-sentinel and
PostgreSQL; bounded in time (HA_SECONDS); every namespace and process is removed even on
failure.
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

from tests.e2e import ha_cluster
from tests.e2e.netns import ROOT, Network, wait_port

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(
        os.geteuid() != 0 or not shutil.which("ip"), reason="needs root and iproute2"
    ),
]

HOSTS = {
    "web1": 11,
    "web2": 12,
    "wk1": 21,
    "wk2": 22,
    "cl": 30,
    "db1": 41,
    "db2": 42,
    "db3": 43,
    "rd1": 51,
    "rd2": 52,
    "rd3": 53,
}
# A supervisor that restarts a process that exits, as systemd's Restart=always does.
SUPERVISED = 'while :; do "$@"; echo "supervisor: exited with $?, restarting"; sleep 1; done'


def hub_env(network: Network, scratch: Path) -> dict[str, dict[str, str]]:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in {"DJANGO_SETTINGS_MODULE", "PROMETHEUS_MULTIPROC_DIR", "REDIS_URL"}
    }
    env.update(
        {
            "DATABASE_URL": ha_cluster.database_url(network),
            "DATABASE_REPLICA_URL": ha_cluster.database_url(network, "prefer-standby"),
            "REDIS_SENTINELS": ha_cluster.sentinels(network),
            "REDIS_SENTINEL_MASTER": ha_cluster.REDIS_MASTER_NAME,
            "SECRET_KEY": "ha-cluster-test-secret-key-" + "x" * 30,
            # The keys outside the database, the same on every host (a file under each
            # host's DATA_DIR would seal, MAC and chain with a key of its own).
            "FIELD_ENCRYPTION_KEYS": "aGEtY2x1c3Rlci1maWVsZC1lbmNyeXB0aW9uLWtleSE=",
            "ALLOWED_HOSTS": ",".join(network.address(h) for h in ("web1", "web2")),
            "API_THROTTLE_RATE": "100000/second",
            "LOG_LEVEL": "WARNING",
            "BATCH_CHUNK_SIZE": "500",
            "OUTBOX_HEARTBEAT_SECONDS": "1",
            "OUTBOX_SWEEP_SECONDS": "2",
            "SECURE_COOKIES": "false",
        }
    )
    envs = {}
    for host in ("web1", "web2", "wk1", "wk2", "cl"):
        (scratch / host / "var").mkdir(parents=True)
        envs[host] = {**env, "DATA_DIR": str(scratch / host / "var")}
    return envs


def start_hub(network: Network, envs: dict, logs: Path) -> None:
    manage = [sys.executable, "manage.py"]
    migrate = subprocess.run(
        ["ip", "netns", "exec", network.ns("cl"), *manage, "migrate", "-v", "0"],
        cwd=ROOT,
        env=envs["cl"],
        capture_output=True,
        text=True,
        timeout=600,
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
    for host in ("wk1", "wk2"):
        network.start(
            host,
            ["sh", "-c", SUPERVISED, "sh", *manage, "rqworker", "batches", "default", "webhooks"],
            envs[host],
            logs / f"{host}.log",
        )
    network.start(
        "web2",
        ["sh", "-c", SUPERVISED, "sh", *manage, "rqcron", "config.cron"],
        envs["web2"],
        logs / "rqcron.log",
    )
    for host, web in webs:
        wait_port(network, host, 8000, web, seconds=120)


@pytest.mark.skipif(bool(ha_cluster.missing_binaries()), reason="needs etcd, patroni, redis")
def test_the_primary_database_host_then_the_redis_master_host_die_mid_batch():
    network = Network(HOSTS, tag="ha")
    scratch = Path(tempfile.mkdtemp(prefix="payhub-ha-"))
    scratch.chmod(0o755)  # PostgreSQL's own user reads its data directory below
    logs = scratch / "logs"
    logs.mkdir()
    try:
        network.build()
        cluster = ha_cluster.Cluster(network, scratch, logs, dict(os.environ))
        cluster.start_databases()
        cluster.start_redis()
        envs = hub_env(network, scratch)
        start_hub(network, envs, logs)

        driver = subprocess.run(
            [
                "ip",
                "netns",
                "exec",
                network.ns("cl"),
                sys.executable,
                "-m",
                "tests.e2e.ha_driver",
            ],
            cwd=ROOT,
            env={
                **envs["cl"],
                "HA_WEB": json.dumps(
                    [f"http://{network.address(h)}:8000" for h in ("web1", "web2")]
                ),
                "HA_NAMESPACES": json.dumps({h: network.ns(h) for h in HOSTS}),
                "HA_ADDRESSES": json.dumps({h: network.address(h) for h in HOSTS}),
                "HA_SECONDS": os.environ.get("HA_SECONDS", "420"),
            },
            capture_output=True,
            text=True,
            timeout=900,
        )
        assert driver.returncode == 0, driver.stdout[-3000:] + driver.stderr[-3000:]
        result = json.loads(driver.stdout.strip().splitlines()[-1])
        print("ha cluster:", json.dumps(result, indent=1))
        print(
            "HA failover, client's view: database back after "
            f"{result['db_outage']['payments_back_after_s']} s, Redis back after "
            f"{result['redis_outage']['payments_back_after_s']} s "
            f"(Sentinel promoted after {result['sentinel_promoted_after_s']} s)"
        )

        # every payment a client was told about is there, once
        assert result["answered_201_missing"] == [], result
        assert result["answered_before_db_kill_missing"] == 0, result
        assert result["api_payments_in_db"] == result["api_payments_answered_201"], result
        assert result["keys_recorded"] == result["api_payments_answered_201"], result
        assert all(count > 0 for count in result["api_payments_by_web_host"].values()), result
        # both kills happened, mid-batch, and a standby and a replica took over
        assert result["db_killed_host"] and result["new_primary"] != result["db_killed_host"]
        assert 0 < result["db_killed_at_rows"] < result["valid_rows"], result
        assert result["new_redis_master"] != result["redis_killed_host"], result
        assert result["db_outage"]["payments_back_after_s"] is not None, result
        assert result["redis_outage"]["payments_back_after_s"] is not None, result
        # the replica alias read a standby; after the failover each web host's /readyz
        # names the new primary and its replica's lag
        assert result["replica_role_before_kill"] == "standby", result
        for answer in result["readyz_after_db_failover"].values():
            assert answer["ok"] and answer["database_primary"] == result["new_primary_address"]
            assert answer["database_replica"]["lag_seconds"] >= 0, answer
        # the batch completed, every row paid once
        assert result["upload_status"] == 201
        assert result["batch_status"] == "completed_with_errors", result
        assert result["batch_payments"] == result["batch_distinct_rows"] == result["valid_rows"]
        assert result["rows_left_valid"] == 0
        assert result["ledger_ok"] and result["audit_ok"], result
    finally:
        network.tear_down()
        for log in sorted(logs.glob("*.log")):  # shown by pytest when the test failed
            print(f"--- {log.name}", log.read_text(errors="replace")[-1500:], sep="\n")
        shutil.rmtree(scratch, ignore_errors=True)
    leftovers = subprocess.run(
        ["pgrep", "-af", str(scratch)], capture_output=True, text=True
    ).stdout.strip()
    assert not leftovers, leftovers
    namespaces = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    assert network.tag not in namespaces
