"""`make run` on a machine with no PostgreSQL and no Redis: the launcher starts the
embedded PostgreSQL and Redis, gunicorn, a real RQ worker and the scheduler; it starts a
worker that dies again; Ctrl-C (to the whole process group of `setsid make run`, as a
terminal sends it, even in the middle of the first start) or SIGTERM to the launcher stops
them all, in dependency order, with no traceback and nothing left running (no process,
no port, no Unix socket) when `make` returns."""

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

import psutil  # type: ignore[import-untyped]
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

    @property
    def through_make(self) -> bool:
        return self.launcher.args[0] == "make"

    def launcher_pid(self) -> int:
        """config.run's pid: make's child when started through make."""
        if not self.through_make:
            return self.launcher.pid
        [child] = psutil.Process(self.launcher.pid).children()
        return child.pid

    def worker_pids(self) -> list[int]:
        """The launcher's RQ workers: its children that lead a process group of their own
        (the launcher is its descendants' subreaper: a killed worker's scheduler process,
        orphaned for a moment, is its child too)."""
        pids = []
        for child in psutil.Process(self.launcher_pid()).children():
            try:
                if "rqworker" in child.cmdline() and os.getpgid(child.pid) == child.pid:
                    pids.append(child.pid)
            except (psutil.Error, ProcessLookupError):
                pass
        return pids

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
        """Ctrl-C, as a terminal sends it (to the whole foreground process group: make and
        the launcher); the exit status."""
        if self.launcher.poll() is None:
            os.killpg(self.launcher.pid, signal.SIGINT)
        return self.launcher.wait(timeout=120)


def start(data_dir: Path, log: Path, *, make: bool = False, wait: bool = True) -> Product:
    port = free_port()
    with open(log, "w") as out:
        launcher = start_product(
            product_env(data_dir, port), make=make, stdout=out, stderr=subprocess.STDOUT, text=True
        )
    product = Product(launcher=launcher, data_dir=data_dir, port=port, log=log)
    if not wait:
        return product
    try:
        wait_for(f"{product.base}/healthz", launcher)
    except BaseException:
        try:
            product.interrupt()
        finally:
            kill_leftovers(launcher, data_dir)
        raise
    return product


def stop_leaves_nothing(product: Product, stops: list[str] = STOP_ORDER) -> None:
    """Exit status 0 (make: 0, or killed by the SIGINT it waited with), every stop in
    dependency order, no traceback, nothing left running: no process, nothing on the port,
    no Unix socket under DATA_DIR that answers."""
    output = product.output()
    allowed = {0, -signal.SIGINT} if product.through_make else {0}
    assert product.launcher.returncode in allowed, output[-3000:]
    assert "Traceback" not in output, output
    assert "make: ***" not in output, output[-3000:]
    assert "left running" not in output, output[-3000:]  # the launcher's last sweep found none
    positions = [output.find(line) for line in stops]
    assert -1 not in positions and positions == sorted(positions), output[-3000:]
    assert leftovers(product.launcher, product.data_dir) == []
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", product.port), timeout=1)
    for path in product.data_dir.rglob("*"):
        if path.is_socket():
            with socket.socket(socket.AF_UNIX) as unix, pytest.raises(OSError):
                unix.connect(str(path))


@pytest.fixture(scope="module")
def product(tmp_path_factory) -> Iterator[Product]:
    data_dir = fresh_data_dir("make-run")
    try:
        running = start(data_dir, tmp_path_factory.mktemp("make-run") / "output.txt", make=True)
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


def test_ctrl_c_to_make_stops_everything_in_order_without_a_traceback(product):
    assert product.interrupt() in (0, -signal.SIGINT)
    stop_leaves_nothing(product)
    # The worker stopped on its warm shutdown: the launcher did not have to force it after
    # waiting a minute (redis 8.2 with RQ 3.0: a warm shutdown waited out a 60 s poll).
    assert "cold shut down" not in product.output()


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


def commands(pid: int) -> list[str]:
    """The command lines of a process's descendants."""
    found = []
    for process in psutil.Process(pid).children(recursive=True):
        try:
            found.append(" ".join(process.cmdline()))
        except psutil.Error:  # gone, or a zombie
            pass
    return found


def test_ctrl_c_in_the_middle_of_the_first_start(tmp_path):
    """Ctrl-C while initdb makes the embedded PostgreSQL's data directory (in the same
    foreground group as make): the start ends and then everything stops, no traceback."""
    data_dir = fresh_data_dir("make-run-first")
    product = start(data_dir, tmp_path / "output.txt", make=True, wait=False)
    try:
        deadline = time.monotonic() + 120
        while not any("initdb" in command for command in commands(product.launcher.pid)):
            assert time.monotonic() < deadline and product.launcher.poll() is None
            time.sleep(0.05)
        assert product.interrupt() in (0, -signal.SIGINT)
        stop_leaves_nothing(product, stops=["make run: stopped PostgreSQL"])
        assert (data_dir / "postgres" / "PG_VERSION").exists()  # initdb was not cut short
    finally:
        if product.launcher.poll() is None:
            product.launcher.kill()
        kill_leftovers(product.launcher, data_dir)
        shutil.rmtree(data_dir, ignore_errors=True)
