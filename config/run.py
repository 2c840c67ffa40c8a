"""`make run`: the whole product on one machine.

Migrates, seeds the demo on first run, then serves the web app (gunicorn) and
an RQ worker (with its scheduler), plus an embedded Redis when REDIS_URL is
unset. Ctrl-C (or SIGTERM) stops every process it started.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import cast

BASE_DIR = Path(__file__).resolve().parent.parent


def main() -> int:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    # Plain HTTP on localhost: cookies marked Secure would never come back.
    os.environ.setdefault("SECURE_COOKIES", "false")
    import django

    django.setup()
    from django.conf import settings

    from config import embedded_redis

    port = os.environ.get("PORT", "8000")
    children: list[subprocess.Popen] = []

    def stop(*_args) -> None:
        for child in reversed(children):
            if child.poll() is None:
                child.terminate()
        deadline = time.monotonic() + 10
        for child in reversed(children):
            try:
                child.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                child.kill()

    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        if not os.environ.get("REDIS_URL"):
            redis_process = embedded_redis.start(settings.EMBEDDED_REDIS_SOCKET, settings.DATA_DIR)
            if redis_process:
                children.append(redis_process)
            os.environ["REDIS_URL"] = settings.REDIS_URL
        manage = [sys.executable, str(BASE_DIR / "manage.py")]
        subprocess.run([*manage, "migrate", "--noinput", "-v", "0"], check=True)
        subprocess.run([*manage, "collectstatic", "--noinput", "-v", "0"], check=True)
        seed = subprocess.run([*manage, "seed_demo"], check=True, capture_output=True, text=True)
        children.append(
            subprocess.Popen(
                [*manage, "rqworker", "default", "batches", "webhooks", "--with-scheduler"]
            )
        )
        # Periodic jobs (authorization expiry, webhook retries): config/cron.py.
        children.append(
            subprocess.Popen([*manage, "rqcron", "config.cron", "--logging-level", "WARNING"])
        )
        children.append(
            subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "gunicorn",
                    "config.wsgi",
                    "--bind",
                    f"127.0.0.1:{port}",
                    "--workers",
                    os.environ.get("WEB_CONCURRENCY", "2"),
                    "--access-logfile",
                    "-",
                ],
                cwd=BASE_DIR,
            )
        )
        _print_welcome(port, seed.stdout)
        while all(child.poll() is None for child in children):
            time.sleep(0.5)
        # Every child is started with a list of arguments.
        failed = [cast(list, child.args)[0] for child in children if child.poll() is not None]
        print(f"a process stopped ({failed}); stopping the rest", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 0
    finally:
        stop()


def _print_welcome(port: str, seed_output: str) -> None:
    import json

    lines = seed_output.strip().splitlines()
    demo = json.loads(lines[-1]) if lines else {}
    print("\n" + "=" * 72)
    print(f"  Payments hub on http://127.0.0.1:{port}/")
    print(f"  Dashboard login: http://127.0.0.1:{port}/accounts/login/")
    print(f"  Admin:           http://127.0.0.1:{port}/admin/")
    print(f"  API docs:        http://127.0.0.1:{port}/api/docs/")
    for user in demo.get("users", []):
        print(f"  {user['role']:<9} {user['username']:<10} password {user['password']}")
        if user.get("totp_uri"):
            print(f"            TOTP secret (for an authenticator app): {user['totp_secret']}")
    if demo.get("api_key"):
        merchant = demo.get("merchant", {}).get("name", "the demo merchant")
        print(f"  API key of {merchant}: {demo['api_key']}")
    print("  Ctrl-C stops everything.")
    print("=" * 72 + "\n", flush=True)


if __name__ == "__main__":
    sys.exit(main())
