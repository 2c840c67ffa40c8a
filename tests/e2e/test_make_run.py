"""`make run` on a machine with no PostgreSQL and no Redis: the launcher starts the
embedded PostgreSQL and Redis, gunicorn, a real RQ worker and the scheduler; it starts a
worker that dies again; Ctrl-C (or SIGTERM) stops them all, in dependency order, with
exit status 0, no traceback and nothing left running."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.e2e.launcher import (
    free_port,
    fresh_data_dir,
    get,
    kill_leftovers,
    leftovers,
    product_env,
    start_product,
    wait_for,
)

pytestmark = pytest.mark.e2e

STOP_ORDER = [
    "make run: stopped the web",
    "make run: stopped the scheduler",
    "make run: stopped the worker",
    "make run: stopped Redis",
    "make run: stopped PostgreSQL",
]


@dataclass
class Product:
    """One `make run` on a fresh DATA_DIR, its combined output in a file."""

    launcher: subprocess.Popen
    data_dir: Path
    port: int
    log: Path

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def output(self) -> str:
        return self.log.read_text()

    def worker_pids(self) -> list[int]:
        listed = subprocess.run(
            ["pgrep", "-P", str(self.launcher.pid), "-f", "rqworker"],
            capture_output=True,
            text=True,
        )
        return [int(pid) for pid in listed.stdout.split()]

    def run_job(self, name: str) -> dict:
        """A job enqueued on the embedded Redis, as the worker finishes it."""
        from redis import Redis
        from rq import Queue

        redis = Redis(unix_socket_path=str(self.data_dir / "redis.sock"))
        job = Queue("default", connection=redis).enqueue(name)
        deadline = time.monotonic() + 60
        while (
            job.get_status(refresh=True) not in ("finished", "failed")
            and time.monotonic() < deadline
        ):
            time.sleep(0.25)
        assert job.get_status() == "finished"
        return job.return_value()

    def interrupt(self) -> int:
        """Ctrl-C, as a terminal sends it (to the foreground process group); the exit status."""
        if self.launcher.poll() is None:
            os.killpg(self.launcher.pid, signal.SIGINT)
        return self.launcher.wait(timeout=120)


def start(data_dir: Path, log: Path) -> Product:
    port = free_port()
    with open(log, "w") as out:
        launcher = start_product(
            product_env(data_dir, port), stdout=out, stderr=subprocess.STDOUT, text=True
        )
    product = Product(launcher=launcher, data_dir=data_dir, port=port, log=log)
    try:
        wait_for(f"{product.base}/healthz", launcher)
    except BaseException:
        try:
            product.interrupt()
        finally:
            kill_leftovers(launcher, data_dir)
        raise
    return product


def stop_leaves_nothing(product: Product) -> None:
    """Exit status 0, every stop in dependency order, no traceback, nothing left running."""
    output = product.output()
    assert product.launcher.returncode == 0, output[-3000:]
    assert "Traceback" not in output, output
    positions = [output.find(line) for line in STOP_ORDER]
    assert -1 not in positions and positions == sorted(positions), output[-3000:]
    assert leftovers(product.launcher, product.data_dir) == []
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", product.port), timeout=1)


@pytest.fixture(scope="module")
def product(tmp_path_factory) -> Iterator[Product]:
    data_dir = fresh_data_dir("make-run")
    try:
        running = start(data_dir, tmp_path_factory.mktemp("make-run") / "output.txt")
        try:
            yield running
        finally:
            try:
                running.interrupt()
            except subprocess.TimeoutExpired:
                running.launcher.kill()
            kill_leftovers(running.launcher, data_dir)
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)


def test_serves_login_admin_and_a_worker_on_the_embedded_servers(product):
    status, login_page = get(f"{product.base}/accounts/login/")
    assert status == 200 and 'name="username"' in login_page
    status, admin_page = get(f"{product.base}/admin/login/")
    assert status == 200 and 'name="password"' in admin_page

    # The database is the embedded PostgreSQL server's, in DATA_DIR/postgres.
    assert (product.data_dir / "postgres" / "PG_VERSION").exists()
    assert not list(product.data_dir.glob("*.sqlite3"))
    servers = subprocess.run(
        ["pgrep", "-f", f"postgres -D {product.data_dir}/postgres"], capture_output=True
    )
    assert servers.stdout.split(), "no PostgreSQL server runs on this DATA_DIR"

    # The worker answers a job enqueued on the embedded Redis.
    result = product.run_job("accounts.ledger.jobs.verify_ledger")
    assert result["ok"] is True
    assert result["accounts_checked"] >= 7  # the seeded demo accounts
    assert "maker-demo-2026" in product.output()  # the demo credentials are printed


def test_a_killed_worker_is_started_again(product):
    [worker] = product.worker_pids()
    os.kill(worker, signal.SIGKILL)

    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        pids = product.worker_pids()
        if pids and worker not in pids:
            break
        time.sleep(0.25)
    assert len(pids) == 1 and pids != [worker], f"no new worker: {pids}"

    assert product.run_job("accounts.ledger.jobs.verify_ledger")["ok"] is True
    assert get(f"{product.base}/healthz")[0] == 200
    assert product.launcher.poll() is None
    assert f"the worker stopped (status -{signal.SIGKILL.value}); starting it again" in (
        product.output()
    )


def test_ctrl_c_stops_everything_in_order_without_a_traceback(product):
    assert product.interrupt() == 0
    stop_leaves_nothing(product)


def test_sigterm_to_the_launcher_on_an_existing_data_dir(product, tmp_path):
    product.interrupt()  # the module's product stopped: this one starts the servers again

    again = start(product.data_dir, tmp_path / "output.txt")
    try:
        assert get(f"{again.base}/accounts/login/")[0] == 200
        again.launcher.send_signal(signal.SIGTERM)  # the launcher alone, as `kill PID` does
        again.launcher.wait(timeout=120)
        stop_leaves_nothing(again)
    finally:
        if again.launcher.poll() is None:
            again.launcher.kill()
        kill_leftovers(again.launcher, again.data_dir)
