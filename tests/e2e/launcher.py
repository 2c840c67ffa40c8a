"""Starting the product as `make run` does, for the tests that drive it from outside:
its own DATA_DIR and port, no DATABASE_URL or REDIS_URL (SQLite and the embedded
Redis), in a process group of its own so Ctrl-C (SIGINT) reaches every child."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


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


def start_product(env: dict[str, str], **popen: Any) -> subprocess.Popen:
    """`python -m config.run` (what `make run` runs) with this environment."""
    return subprocess.Popen(
        [sys.executable, "-m", "config.run"], cwd=ROOT, env=env, start_new_session=True, **popen
    )


def get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def wait_for(url: str, process: subprocess.Popen, seconds: float = 120) -> None:
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
