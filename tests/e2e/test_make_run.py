"""`make run` on a machine with no PostgreSQL and no Redis: the launcher starts an
embedded Redis, gunicorn and a real RQ worker; Ctrl-C stops them all."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time

import pytest

from tests.e2e.launcher import free_port, get, product_env, start_product, wait_for

pytestmark = pytest.mark.e2e


def test_make_run_serves_login_admin_and_a_worker_without_any_server(tmp_path):
    port = free_port()
    launcher = start_product(
        product_env(tmp_path, port), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    try:
        base = f"http://127.0.0.1:{port}"
        wait_for(f"{base}/healthz", launcher)

        status, login_page = get(f"{base}/accounts/login/")
        assert status == 200 and 'name="username"' in login_page
        status, admin_page = get(f"{base}/admin/login/")
        assert status == 200 and 'name="password"' in admin_page
        assert (tmp_path / "payhub.sqlite3").exists()

        # The worker answers a job enqueued on the embedded Redis.
        from redis import Redis
        from rq import Queue

        queue = Queue("default", connection=Redis(unix_socket_path=str(tmp_path / "redis.sock")))
        job = queue.enqueue("accounts.ledger.jobs.verify_ledger")
        deadline = time.monotonic() + 60
        while (
            job.get_status(refresh=True) not in ("finished", "failed")
            and time.monotonic() < deadline
        ):
            time.sleep(0.25)
        assert job.get_status() == "finished"
        assert job.return_value()["ok"] is True
        assert job.return_value()["accounts_checked"] >= 7  # the seeded demo accounts
    finally:
        os.killpg(launcher.pid, signal.SIGINT)  # Ctrl-C reaches the whole process group
        output, _ = launcher.communicate(timeout=60)

    assert "maker-demo-2026" in output  # the demo credentials are printed
    assert launcher.returncode == 0
    # Every child (redis, gunicorn, worker) shares the launcher's process group.
    leftovers = subprocess.run(
        ["pgrep", "-g", str(launcher.pid)], capture_output=True, text=True
    ).stdout
    assert leftovers == "", f"processes left running: {leftovers}"
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=1)
