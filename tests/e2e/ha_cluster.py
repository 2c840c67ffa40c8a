"""The replicated services of tests/e2e/test_ha_cluster.py, each bound to its host's
namespace address: three database hosts running etcd, Patroni and PostgreSQL (synchronous
mode), three Redis hosts running Redis (one master, two replicas) and a sentinel each.
The Debian packages' binaries: etcd, patroni, redis-server, redis-sentinel, PostgreSQL's
in /usr/lib/postgresql/<version>/bin. Also used by `bench_ha` to compare with one server."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

from tests.e2e.netns import Network

DB_HOSTS = ("db1", "db2", "db3")
REDIS_HOSTS = ("rd1", "rd2", "rd3")
REDIS_MASTER_NAME = "payhub"
PG_BIN = (
    sorted(Path("/usr/lib/postgresql").glob("*/bin"))[-1]
    if Path("/usr/lib/postgresql").exists()
    else None
)
# Patroni's leader key lives `ttl` seconds without a refresh: the floor of a failover's
# duration. loop_wait + 2 * retry_timeout must stay within it.
PATRONI_TTL, PATRONI_LOOP_WAIT, PATRONI_RETRY_TIMEOUT = 10, 1, 3
SENTINEL_DOWN_AFTER_MS = 2000


def missing_binaries() -> list[str]:
    needed = ["etcd", "patroni", "patronictl", "redis-server", "redis-sentinel"]
    return [name for name in needed if not shutil.which(name)] + (
        ["postgresql"] if PG_BIN is None else []
    )


def database_url(network: Network, attrs: str = "read-write", name: str = "postgres") -> str:
    hosts = ",".join(f"{network.address(h)}:5432" for h in DB_HOSTS)
    return f"postgres://postgres@{hosts}/{name}?target_session_attrs={attrs}"


def sentinels(network: Network) -> str:
    return ",".join(f"{network.address(h)}:26379" for h in REDIS_HOSTS)


class Cluster:
    """Starts and watches the replicated services inside `network` (which it does not own)."""

    def __init__(self, network: Network, scratch: Path, logs: Path, env: dict[str, str]):
        self.network, self.scratch, self.logs, self.env = network, scratch, logs, env

    def _in_ns(self, host: str, *command: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            ["ip", "netns", "exec", self.network.ns(host), *command],
            capture_output=True,
            text=True,
            timeout=30,
        )

    # --- etcd + Patroni + PostgreSQL ---------------------------------------------------
    def start_databases(self) -> None:
        address = self.network.address
        peers = ",".join(f"{h}=http://{address(h)}:2380" for h in DB_HOSTS)
        for host in DB_HOSTS:
            data = self.scratch / host / "etcd"
            data.mkdir(parents=True)
            self.network.start(
                host,
                [
                    "etcd",
                    "--name",
                    host,
                    "--data-dir",
                    str(data),
                    "--listen-client-urls",
                    f"http://{address(host)}:2379",
                    "--advertise-client-urls",
                    f"http://{address(host)}:2379",
                    "--listen-peer-urls",
                    f"http://{address(host)}:2380",
                    "--initial-advertise-peer-urls",
                    f"http://{address(host)}:2380",
                    "--initial-cluster",
                    peers,
                    "--initial-cluster-state",
                    "new",
                    "--initial-cluster-token",
                    self.network.tag,
                ],
                self.env,
                self.logs / f"etcd-{host}.log",
            )
        for host in DB_HOSTS:
            self._wait(
                f"etcd on {host}",
                lambda host=host: (
                    self._in_ns(
                        host,
                        "etcdctl",
                        f"--endpoints=http://{address(host)}:2379",
                        "endpoint",
                        "health",
                    ).returncode
                    == 0
                ),
                60,
            )
        for index, host in enumerate(DB_HOSTS):
            self._start_patroni(host)
            if index == 0:  # the first one bootstraps; the others copy it
                self._wait("a primary", lambda: self.primary() is not None, 90)
        self._wait("a synchronous standby", lambda: self.sync_standby() is not None, 120)

    def _start_patroni(self, host: str) -> None:
        assert PG_BIN is not None
        home = self.scratch / host
        data = home / "pg"
        data.mkdir(mode=0o700)
        shutil.chown(home, "postgres", "postgres")
        shutil.chown(data, "postgres", "postgres")
        subnet = f"{self.network.subnet}.0/24"
        address = self.network.address(host)
        config = {
            "scope": f"payhub-{self.network.tag}",
            "name": host,
            "log": {"level": "WARNING"},
            "restapi": {"listen": f"{address}:8008", "connect_address": f"{address}:8008"},
            "etcd3": {"hosts": [f"{self.network.address(h)}:2379" for h in DB_HOSTS]},
            "bootstrap": {
                "dcs": {
                    "ttl": PATRONI_TTL,
                    "loop_wait": PATRONI_LOOP_WAIT,
                    "retry_timeout": PATRONI_RETRY_TIMEOUT,
                    "maximum_lag_on_failover": 1048576,
                    # A commit is acknowledged once a standby has it: the standby that
                    # is promoted has every commit a client was told about.
                    "synchronous_mode": True,
                    "postgresql": {
                        "use_pg_rewind": False,
                        "parameters": {
                            "max_connections": 100,
                            "wal_level": "replica",
                            "hot_standby": "on",
                            "max_wal_senders": 10,
                            "max_replication_slots": 10,
                        },
                    },
                },
                "initdb": [{"encoding": "UTF8"}, {"auth": "trust"}],
            },
            "postgresql": {
                "listen": f"{address}:5432",
                "connect_address": f"{address}:5432",
                "data_dir": str(data),
                "bin_dir": str(PG_BIN),
                "pgpass": str(home / "pgpass"),
                "authentication": {
                    "superuser": {"username": "postgres"},
                    "replication": {"username": "postgres"},
                },
                "parameters": {"unix_socket_directories": str(home)},
                "pg_hba": [
                    "local all all trust",
                    f"host all all {subnet} trust",
                    f"host replication all {subnet} trust",
                ],
            },
        }
        path = home / "patroni.json"  # JSON is YAML
        path.write_text(json.dumps(config))
        self.network.start(
            host,
            ["runuser", "-u", "postgres", "--", "patroni", str(path)],
            self.env,
            self.logs / f"patroni-{host}.log",
        )

    def _members(self) -> list[dict]:
        """Patroni's view of the cluster, asked from the client host (the test itself is
        outside the namespaces' network)."""
        urls = [f"http://{self.network.address(h)}:8008/cluster" for h in DB_HOSTS]
        probe = (
            "import json, sys, urllib.request\n"
            "for url in sys.argv[1:]:\n"
            "    try:\n"
            "        print(urllib.request.urlopen(url, timeout=2).read().decode()); break\n"
            "    except OSError: pass\n"
        )
        answer = self._in_ns("cl", sys.executable, "-c", probe, *urls).stdout.strip()
        return json.loads(answer).get("members", []) if answer else []

    def primary(self) -> str | None:
        """The database host whose PostgreSQL Patroni runs as the leader, running."""
        for member in self._members():
            if member.get("role") == "leader" and member.get("state") == "running":
                return member["name"]
        return None

    def sync_standby(self) -> str | None:
        for member in self._members():
            if member.get("role") == "sync_standby" and member.get("state") in {
                "running",
                "streaming",
            }:
                return member["name"]
        return None

    def patronictl(self, host: str, *args: str) -> subprocess.CompletedProcess:
        config = self.scratch / host / "patroni.json"
        return self._in_ns(host, "patronictl", "-c", str(config), *args)

    def start_single_database(self, host: str) -> None:
        """One PostgreSQL server alone on `host`, as the Patroni nodes are configured but
        without a standby: what `bench_ha` compares the cluster with."""
        assert PG_BIN is not None
        home = self.scratch / host
        data = home / "pg"
        data.mkdir(parents=True, mode=0o700)
        shutil.chown(home, "postgres", "postgres")
        shutil.chown(data, "postgres", "postgres")
        subprocess.run(
            ["runuser", "-u", "postgres", "--", str(PG_BIN / "initdb"), "-D", str(data)]
            + ["-A", "trust", "-U", "postgres", "-E", "UTF8"],
            check=True,
            capture_output=True,
            timeout=120,
        )
        with (data / "pg_hba.conf").open("a") as hba:
            hba.write(f"host all all {self.network.subnet}.0/24 trust\n")
        address = self.network.address(host)
        self.network.start(
            host,
            ["runuser", "-u", "postgres", "--", str(PG_BIN / "postgres"), "-D", str(data)]
            + ["-c", f"listen_addresses={address}", "-c", f"unix_socket_directories={home}"]
            + ["-c", "max_connections=100"],
            self.env,
            self.logs / f"postgres-{host}.log",
        )
        ready = [str(PG_BIN / "pg_isready"), "-q", "-h", address, "-U", "postgres"]
        self._wait(f"PostgreSQL on {host}", lambda: self._in_ns("cl", *ready).returncode == 0, 60)

    # --- Redis and Sentinel --------------------------------------------------------------
    def start_redis(self) -> None:
        master = self.network.address(REDIS_HOSTS[0])
        for host in REDIS_HOSTS:
            home = self.scratch / host
            home.mkdir(parents=True)
            address = self.network.address(host)
            command = [
                "redis-server",
                "--bind",
                address,
                "--port",
                "6379",
                "--dir",
                str(home),
                "--save",
                "",
                "--appendonly",
                "no",
                "--protected-mode",
                "no",
            ]
            if host != REDIS_HOSTS[0]:
                command += ["--replicaof", master, "6379"]
            self.network.start(host, command, self.env, self.logs / f"redis-{host}.log")
        for host in REDIS_HOSTS:
            home = self.scratch / host
            (home / "sentinel.conf").write_text(
                f"port 26379\nbind {self.network.address(host)}\nprotected-mode no\n"
                f"dir {home}\n"
                f"sentinel monitor {REDIS_MASTER_NAME} {master} 6379 2\n"
                f"sentinel down-after-milliseconds {REDIS_MASTER_NAME} {SENTINEL_DOWN_AFTER_MS}\n"
                f"sentinel failover-timeout {REDIS_MASTER_NAME} 10000\n"
                f"sentinel parallel-syncs {REDIS_MASTER_NAME} 1\n"
            )
            self.network.start(
                host,
                ["redis-sentinel", str(home / "sentinel.conf")],
                self.env,
                self.logs / f"sentinel-{host}.log",
            )
        self._wait("sentinels that know each other", lambda: self._sentinels_seen() >= 2, 60)

    def _redis(self, host: str, port: int, *command: str) -> str:
        answer = self._in_ns(
            host, "redis-cli", "-h", self.network.address(host), "-p", str(port), *command
        )
        return answer.stdout.strip()

    def _sentinels_seen(self) -> int:
        answer = self._redis(
            REDIS_HOSTS[0], 26379, "SENTINEL", "MASTER", REDIS_MASTER_NAME
        ).splitlines()
        fields = dict(zip(answer[::2], answer[1::2], strict=False))
        return int(fields.get("num-other-sentinels", 0))

    def redis_master(self, asked: str | None = None) -> str | None:
        """The Redis host a live sentinel names as master."""
        by_address = {self.network.address(h): h for h in REDIS_HOSTS}
        for host in [asked] if asked else REDIS_HOSTS:
            answer = self._redis(
                host, 26379, "SENTINEL", "GET-MASTER-ADDR-BY-NAME", REDIS_MASTER_NAME
            ).splitlines()
            if answer and answer[0] in by_address:
                return by_address[answer[0]]
        return None

    # --- killing a host ------------------------------------------------------------------
    def kill_host(self, host: str) -> int:
        """SIGKILL every process of the host's namespace, as a machine that dies."""
        pids = self.network.pids(host)
        self.network.kill(pids)
        return len(pids)

    @staticmethod
    def _wait(what: str, condition, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            try:
                if condition():
                    return
            except OSError:
                pass
            time.sleep(0.5)
        raise AssertionError(f"{what}: not there within {seconds} s")
