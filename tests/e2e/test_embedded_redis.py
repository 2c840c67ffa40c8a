"""config/embedded_redis.py: the server stops with the process that started it, even when
that process is killed (SIGKILL, or a SIGTERM it does not handle, as pytest's), so that
nothing of `make run` or `make test` is left running."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import redis

from tests.e2e.launcher import ROOT

pytestmark = pytest.mark.e2e

STARTER = """
import sys, time
from pathlib import Path
from config import embedded_redis
process = embedded_redis.start(Path(sys.argv[1]), Path(sys.argv[2]))
print(process.pid, flush=True)
time.sleep(600)
"""


def answers(socket_path: Path) -> bool:
    try:
        return bool(redis.Redis(unix_socket_path=str(socket_path), socket_timeout=1).ping())
    except (redis.RedisError, OSError):
        return False


def gone(pid: int, seconds: float = 20) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        state = subprocess.run(["ps", "-o", "stat=", "-p", str(pid)], capture_output=True)
        if not state.stdout.strip() or state.stdout.startswith(b"Z"):
            return True
        time.sleep(0.1)
    return False


@pytest.mark.parametrize("how", [signal.SIGKILL, signal.SIGTERM])
def test_the_server_stops_when_its_starter_is_killed(tmp_path, how):
    socket_path = tmp_path / "redis.sock"
    starter = subprocess.Popen(
        [sys.executable, "-c", STARTER, str(socket_path), str(tmp_path)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    server = 0
    try:
        assert starter.stdout is not None
        server = int(starter.stdout.readline())
        assert answers(socket_path)

        starter.send_signal(how)
        starter.wait(timeout=30)

        assert gone(server), "the embedded Redis outlived the process that started it"
        assert not answers(socket_path)
    finally:
        starter.kill()
        starter.wait()
        if server:
            with contextlib.suppress(ProcessLookupError):
                os.kill(server, signal.SIGKILL)
