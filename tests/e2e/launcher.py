"""Starting the product as `make run` does, for the tests that drive it from outside:
its own DATA_DIR and port, no DATABASE_URL or REDIS_URL (the embedded PostgreSQL and
Redis, under that DATA_DIR), in a session and process group of its own. Ctrl-C is
os.killpg(pid, SIGINT), to the whole group, as a terminal sends it: the launcher (and
`make`, when started through it) alone are in that group (each child has a group of its
own in the same session) and the launcher stops the children itself."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import psutil  # type: ignore[import-untyped]

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def fresh_data_dir(name: str) -> Path:
    """A new DATA_DIR, outside pytest's tmp_path: as root, the embedded PostgreSQL runs as
    another user, who must reach its data directory, and each pytest session (another
    developer's too) makes /tmp/pytest-of-root private again. The caller removes it."""
    return Path(tempfile.mkdtemp(prefix=f"payhub-{name}-")).resolve()


def product_env(data_dir: Path, port: int, web_concurrency: int = 1) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in {"DATABASE_URL", "REDIS_URL", "DJANGO_SETTINGS_MODULE"}
    }
    env.update(
        {"DATA_DIR": str(data_dir), "PORT": str(port), "WEB_CONCURRENCY": str(web_concurrency)}
    )
    return env


def start_product(env: dict[str, str], *, make: bool = False, **popen: Any) -> subprocess.Popen:
    """`python -m config.run` (what `make run` runs) with this environment, or `make run`
    itself (as `setsid make run`: make and the launcher in one foreground group, as in a
    terminal); its pid is also its session's and its process group's id."""
    args = ["make", "run"] if make else [sys.executable, "-m", "config.run"]
    return subprocess.Popen(args, cwd=ROOT, env=env, start_new_session=True, **popen)


def get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def wait_for(url: str, process: subprocess.Popen, seconds: float = 300) -> None:
    """Until the URL answers 200: a first start (initdb, migrations, the demo) on a busy
    machine takes minutes."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        assert process.poll() is None, "the launcher exited early"
        try:
            if get(url)[0] == 200:
                return
        except OSError:
            pass
        time.sleep(0.5)
    raise AssertionError(f"{url} did not answer within {seconds} s")


def leftovers(launcher: subprocess.Popen, data_dir: Path) -> list[str]:
    """What is still running of a launcher: a process of its group or session (every child
    but PostgreSQL, which pg_ctl detaches, and RQ's work horses, in sessions of their own),
    one whose command line names its DATA_DIR (`postgres -D DATA_DIR/postgres`, the Redis
    socket under it), or one whose environment does (every process the hub starts, the work
    horses included, inherits DATA_DIR). Zombies, already ended, are not counted."""
    found: dict[str, str] = {}
    for option, value in (
        ("-g", str(launcher.pid)),
        ("-s", str(launcher.pid)),
        ("-f", str(data_dir)),
    ):
        listed = subprocess.run(["pgrep", "-a", option, value], capture_output=True, text=True)
        for line in listed.stdout.splitlines():
            pid, _, command = line.partition(" ")
            found[pid] = command
    for process in psutil.process_iter(["pid", "cmdline"]):
        try:
            if process.environ().get("DATA_DIR") == str(data_dir):
                found[str(process.pid)] = " ".join(process.info["cmdline"] or [])
        except psutil.Error:  # gone, or another user's
            pass
    for pid in list(found):
        try:
            if psutil.Process(int(pid)).status() == psutil.STATUS_ZOMBIE:
                del found[pid]
        except psutil.Error:
            del found[pid]
    return [f"{pid} {command}" for pid, command in sorted(found.items())]


def kill_leftovers(launcher: subprocess.Popen, data_dir: Path) -> None:
    """After a failed test: SIGKILL whatever of this launcher is still running."""
    for line in leftovers(launcher, data_dir):
        try:
            os.kill(int(line.split()[0]), signal.SIGKILL)
        except ProcessLookupError:
            pass
