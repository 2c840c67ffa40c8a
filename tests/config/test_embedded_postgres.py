"""config/embedded_postgres.py, each test on a data directory of its own: starting is
idempotent, two processes starting at once start one server, and only the process that
started the server stops it."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from config import embedded_postgres

ROOT = Path(__file__).resolve().parents[2]

# A process that takes a handle on the server, says what it found, and exits when told.
HOLDER = """
import json, sys
from config import embedded_postgres
params = embedded_postgres.ensure_running(sys.argv[1])
started = embedded_postgres.started_here(sys.argv[1])
print(json.dumps({"params": params, "started": started}), flush=True)
sys.stdin.readline()
"""


@pytest.fixture
def data_dir() -> Iterator[Path]:
    """A DATA_DIR outside pytest's tmp_path: as root, the server runs as another user, who
    must reach its data directory, and each pytest session (another developer's too) makes
    /tmp/pytest-of-root private again."""
    path = Path(tempfile.mkdtemp(prefix="payhub-pg-test-"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


def hold(data_dir: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(data_dir)],
        cwd=ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )


def release(holder: subprocess.Popen) -> int:
    assert holder.stdin is not None
    holder.stdin.close()
    return holder.wait(timeout=60)


def answers(params: dict[str, str]) -> bool:
    try:
        psycopg.connect(
            host=params["HOST"],
            port=params["PORT"],
            user=params["USER"],
            dbname=params["NAME"],
            connect_timeout=5,
        ).close()
    except psycopg.OperationalError:
        return False
    return True


def server_pid(data_dir: Path) -> int:
    return int((embedded_postgres.pgdata(data_dir) / "postmaster.pid").read_text().split()[0])


def test_starting_twice_is_idempotent_and_stop_stops_what_this_process_started(data_dir):
    first = embedded_postgres.ensure_running(data_dir)
    try:
        assert embedded_postgres.started_here(data_dir)
        pid = server_pid(data_dir)
        assert embedded_postgres.ensure_running(data_dir) == first
        assert server_pid(data_dir) == pid  # the same server, not a second one
        assert first["HOST"] == str(data_dir.resolve() / "postgres")  # its Unix socket
        assert first["NAME"] == "payhub" and first["USER"] == "postgres"
        assert answers(first)  # the database was created
    finally:
        assert embedded_postgres.stop(data_dir) is True
    assert not embedded_postgres.is_running(data_dir)
    assert not answers(first)
    assert embedded_postgres.stop(data_dir) is False  # nothing left to stop

    # Started again in the same process, on the data the first server left.
    again = embedded_postgres.ensure_running(data_dir)
    try:
        assert again == first and answers(again)
    finally:
        assert embedded_postgres.stop(data_dir) is True


def test_two_processes_at_once_start_one_server_and_only_its_starter_stops_it(data_dir):
    holders = [hold(data_dir), hold(data_dir)]
    try:
        reports = [json.loads(holder.stdout.readline()) for holder in holders]  # type: ignore[union-attr]
        assert sorted(report["started"] for report in reports) == [False, True]
        params = reports[0]["params"]
        assert reports[1]["params"] == params
        starter, other = holders if reports[0]["started"] else holders[::-1]

        # This process finds it running too: its stop() leaves it alone.
        assert embedded_postgres.ensure_running(data_dir) == params
        assert not embedded_postgres.started_here(data_dir)
        assert embedded_postgres.stop(data_dir) is False
        assert answers(params)

        assert release(other) == 0
        assert answers(params)  # the one that found it running left it alone

        assert release(starter) == 0
        assert not embedded_postgres.is_running(data_dir)  # its starter stopped it
    finally:
        for holder in holders:
            if holder.poll() is None:
                holder.kill()


def test_a_data_dir_too_deep_for_a_unix_socket_gets_its_socket_elsewhere(data_dir):
    deep = data_dir / ("d" * 60) / ("e" * 60)
    deep.mkdir(parents=True)
    params = embedded_postgres.ensure_running(deep)
    try:
        assert not params["HOST"].startswith(str(data_dir))
        assert answers(params)
    finally:
        embedded_postgres.stop(deep)


def test_lock_files_left_by_a_server_that_is_gone_do_not_stop_a_start(data_dir):
    params = embedded_postgres.ensure_running(data_dir)
    pid_file = embedded_postgres.pgdata(data_dir) / "postmaster.pid"
    lines = pid_file.read_text().splitlines()
    embedded_postgres.stop(data_dir)

    # As after a reboot, when the dead server's pid is now another process's: this one.
    lines[0] = str(os.getpid())
    pid_file.write_text("\n".join(lines) + "\n")
    socket_lock = Path(params["HOST"]) / f".s.PGSQL.{params['PORT']}.lock"
    socket_lock.write_text(f"{os.getpid()}\n")

    again = embedded_postgres.ensure_running(data_dir)
    try:
        assert answers(again)
        assert server_pid(data_dir) != os.getpid()
    finally:
        embedded_postgres.stop(data_dir)


def test_a_management_command_without_database_url_starts_and_stops_the_server(data_dir):
    env = {
        **{k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"},
        "DATABASE_URL": "",
        "DATA_DIR": str(data_dir),
    }
    for command in (["migrate", "-v", "0"], ["verify_ledger"]):
        done = subprocess.run(
            [sys.executable, "manage.py", *command],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert done.returncode == 0, done.stdout + done.stderr
        assert not embedded_postgres.is_running(data_dir)  # the command stopped what it started
    assert json.loads(done.stdout.splitlines()[-1])["ok"] is True


def test_a_starter_killed_outright_still_has_its_server_stopped(data_dir):
    starter = hold(data_dir)
    try:
        assert json.loads(starter.stdout.readline())["started"] is True  # type: ignore[union-attr]
        os.kill(starter.pid, signal.SIGKILL)  # no atexit handler runs
        starter.wait(timeout=10)
        deadline = time.monotonic() + 30
        while embedded_postgres.is_running(data_dir) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not embedded_postgres.is_running(data_dir)
    finally:
        if starter.poll() is None:
            starter.kill()
