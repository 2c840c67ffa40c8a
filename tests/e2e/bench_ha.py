"""`python -m tests.e2e.bench_ha`: the cost of not losing data, as a ratio. Builds the HA
test's three Patroni hosts (synchronous mode) and, beside them, one PostgreSQL server alone
on a host of its own (tests/e2e/ha_cluster.py), then runs `manage.py bench_api` from a client
host against each in turn, alternating (`--rounds`), and prints one JSON object: each run's
figures, the cluster's payments/s over the single server's per client level, and the median
time of a one-row commit on each (the synchronous standby's cost without the hub around it).

Needs root, `ip` and the HA test's packages. Options after the module name are passed to
bench_api (default: --seconds 5 --clients 1,8). Everything it starts is removed at the end.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from tests.e2e import ha_cluster
from tests.e2e.netns import ROOT, Network

HOSTS = {"cl": 30, "db1": 41, "db2": 42, "db3": 43, "solo": 44}


def main(argv: list[str]) -> dict:
    rounds = 2
    if argv[:1] == ["--rounds"]:
        rounds, argv = int(argv[1]), argv[2:]
    bench_args = argv or ["--seconds", "5", "--clients", "1,8"]
    network = Network(HOSTS, tag="hb")
    scratch = Path(tempfile.mkdtemp(prefix="payhub-bench-ha-"))
    scratch.chmod(0o755)
    logs = scratch / "logs"
    logs.mkdir()
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in {"DJANGO_SETTINGS_MODULE", "PROMETHEUS_MULTIPROC_DIR", "REDIS_SENTINELS"}
    }
    try:
        network.build()
        cluster = ha_cluster.Cluster(network, scratch, logs, dict(os.environ))
        cluster.start_databases()
        cluster.start_single_database("solo")
        # One Redis for both, on the client host's loopback: only the database differs.
        network.start(
            "cl",
            ["redis-server", "--bind", "127.0.0.1", "--port", "6379", "--save", ""],
            env,
            logs / "redis.log",
        )
        targets = {
            "single": f"postgres://postgres@{network.address('solo')}:5432/postgres",
            "cluster": ha_cluster.database_url(network),
        }
        runs: list[dict] = []
        commits: dict[str, list[float]] = {name: [] for name in targets}
        for name, url in targets.items():
            (scratch / name).mkdir()
            manage(network, name, url, scratch, env, ["migrate", "-v", "0"])
        load_before = os.getloadavg()[0]
        for _ in range(rounds):
            for name, url in targets.items():
                commits[name].append(commit_ms(network, url, env))
                output = manage(network, name, url, scratch, env, ["bench_api", *bench_args])
                runs.append({"target": name, **json.loads(output.strip().splitlines()[-1])})
                print(json.dumps(runs[-1]), file=sys.stderr)
        return {
            "bench_api_args": bench_args,
            "load_average": [round(load_before, 1), round(os.getloadavg()[0], 1)],
            # One row inserted and committed, alone, from the client host: the commit's
            # wait for the synchronous standby, without the hub around it.
            "commit_median_ms": {name: min(values) for name, values in commits.items()},
            "ratios": ratios(runs),
            "runs": runs,
        }
    finally:
        network.tear_down()
        shutil.rmtree(scratch, ignore_errors=True)


def manage(network, name, url, scratch, env, command: list[str]) -> str:
    done = subprocess.run(
        ["ip", "netns", "exec", network.ns("cl"), sys.executable, "manage.py", *command],
        cwd=ROOT,
        env={
            **env,
            "DATABASE_URL": url,
            "REDIS_URL": "redis://127.0.0.1:6379/0",
            "DATA_DIR": str(scratch / name),
            "SECRET_KEY": "bench-ha-secret-key-" + "x" * 40,
        },
        capture_output=True,
        text=True,
        timeout=1800,
    )
    if done.returncode != 0:
        raise SystemExit(f"manage.py {command[0]} on {name} failed:\n{done.stderr[-3000:]}")
    return done.stdout


COMMITS = """
import statistics, sys, time
import psycopg
with psycopg.connect(sys.argv[1], autocommit=True) as conn:
    conn.execute("CREATE TABLE IF NOT EXISTS bench_commit (n int)")
    took = []
    for n in range(300):
        began = time.perf_counter()
        conn.execute("INSERT INTO bench_commit VALUES (%s)", [n])
        took.append(time.perf_counter() - began)
    conn.execute("DROP TABLE bench_commit")
print(round(statistics.median(took) * 1000, 3))
"""


def commit_ms(network: Network, url: str, env: dict) -> float:
    """The median time of 300 one-row autocommit inserts (each one a commit)."""
    done = subprocess.run(
        ["ip", "netns", "exec", network.ns("cl"), sys.executable, "-c", COMMITS, url],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    return float(done.stdout.strip())


def ratios(runs: list[dict]) -> dict:
    """Per client level: the cluster's mean payments/s over the single server's."""
    by_level: dict[int, dict[str, list[float]]] = {}
    for run in runs:
        for level in run["results"]:
            figures = by_level.setdefault(level["clients"], {})
            figures.setdefault(run["target"], []).append(level["payments_per_s"])
            figures.setdefault(f"{run['target']}_p99", []).append(level["p99_ms"])
    found = {}
    for clients, rates in sorted(by_level.items()):
        single = sum(rates["single"]) / len(rates["single"])
        clustered = sum(rates["cluster"]) / len(rates["cluster"])
        found[str(clients)] = {
            "single_per_s": round(single, 1),
            "cluster_per_s": round(clustered, 1),
            "cluster_over_single": round(clustered / single, 3) if single else None,
            "single_p99_ms": max(rates["single_p99"]),
            "cluster_p99_ms": max(rates["cluster_p99"]),
        }
    return found


if __name__ == "__main__":
    print(json.dumps(main(sys.argv[1:])))
