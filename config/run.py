"""`make run`: the whole product on one machine.

Starts the embedded PostgreSQL (DATABASE_URL unset) and the embedded Redis (REDIS_URL
unset), migrates, seeds the demo on first run, then serves the web app (gunicorn), an RQ
worker and the rqcron scheduler; a worker or scheduler that dies is started again.
Ctrl-C (or SIGTERM) stops them in dependency order: web, scheduler, worker, Redis, then
PostgreSQL, each waited for before the next; the exit status is then 0.

Every child runs in a process group of its own, so the terminal's Ctrl-C (sent to the
foreground group) reaches this launcher alone and the launcher does the stopping.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
MANAGE = [sys.executable, str(BASE_DIR / "manage.py")]


class Launcher:
    """The signals it received: the first asks for a stop, a second for a quicker one."""

    def __init__(self) -> None:
        self.signals = 0

    def install(self) -> None:
        signal.signal(signal.SIGINT, self._on_signal)
        signal.signal(signal.SIGTERM, self._on_signal)

    def _on_signal(self, signum: int, _frame: object) -> None:
        self.signals += 1

    @property
    def stopping(self) -> bool:
        return self.signals > 0

    def sleep(self, seconds: float) -> None:
        """Sleep, cut short by a signal."""
        deadline = time.monotonic() + seconds
        signals = self.signals
        while time.monotonic() < deadline and self.signals == signals:
            time.sleep(min(0.1, max(0.0, deadline - time.monotonic())))


class Child:
    """One long-running process of the product, in a process group of its own."""

    def __init__(self, name: str, args: list[str], stop_seconds: float) -> None:
        self.name = name
        self.args = args
        self.stop_seconds = stop_seconds
        self.process: subprocess.Popen | None = None
        self.started_at = 0.0
        self.restarts = 0
        self.restart_at: float | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(self.args, cwd=BASE_DIR, process_group=0)
        self.started_at = time.monotonic()
        self.restart_at = None

    def exited(self) -> int | None:
        return None if self.process is None else self.process.poll()

    def stop(self, launcher: Launcher) -> bool:
        """SIGTERM (a warm shutdown for RQ, a graceful one for gunicorn), waited for; after
        stop_seconds or a second Ctrl-C, SIGTERM again (RQ's cold shutdown), then SIGKILL.
        False if it was never started."""
        process = self.process
        if process is None:
            return False
        if process.poll() is None:
            signals = launcher.signals
            process.terminate()
            for last_resort in (False, True):
                deadline = time.monotonic() + (5 if last_resort else self.stop_seconds)
                while process.poll() is None and time.monotonic() < deadline:
                    if not last_resort and launcher.signals > signals:
                        break
                    time.sleep(0.1)
                if process.poll() is not None:
                    break
                if last_resort:
                    process.kill()
                else:
                    process.terminate()
            process.wait()
        self.clear_group()
        return True

    def clear_group(self) -> None:
        """What a dead child leaves in its group (a killed RQ worker's scheduler process)."""
        if self.process is None:
            return
        try:
            os.killpg(self.process.pid, signal.SIGTERM)
        except (ProcessLookupError, PermissionError):
            pass

    def schedule_restart(self) -> float:
        """A small backoff: 1 s, 2 s, 4 s ... up to 30 s; back to 1 s after a minute's run."""
        if time.monotonic() - self.started_at > 60:
            self.restarts = 0
        delay = float(min(30, 2**self.restarts))
        self.restarts += 1
        self.restart_at = time.monotonic() + delay
        return delay


def main() -> int:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    # Plain HTTP on localhost: cookies marked Secure would never come back.
    os.environ.setdefault("SECURE_COOKIES", "false")
    launcher = Launcher()
    launcher.install()
    import django

    # The settings start the embedded PostgreSQL when DATABASE_URL is unset (and this
    # process, having started it, stops it last); every child then finds it running.
    django.setup()
    from django.conf import settings

    port = os.environ.get("PORT", "8000")
    web = Child(
        "web",
        [
            sys.executable,
            "-m",
            "gunicorn",
            "-c",
            str(BASE_DIR / "config" / "gunicorn.py"),  # the same file as a web host's
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            os.environ.get("WEB_CONCURRENCY", "2"),
            "config.wsgi",
        ],
        stop_seconds=35,  # gunicorn's own graceful timeout is 30 s
    )
    # Periodic jobs (authorization expiry, webhook retries): config/cron.py.
    scheduler = Child(
        "scheduler",
        [*MANAGE, "rqcron", "config.cron", "--logging-level", "WARNING"],
        stop_seconds=10,
    )
    worker = Child(
        "worker",
        [*MANAGE, "rqworker", "default", "batches", "webhooks", "--with-scheduler"],
        stop_seconds=60,  # the job under way finishes first
    )
    redis: list[subprocess.Popen] = []
    try:
        status = _serve(launcher, port, web, scheduler, worker, redis)
    finally:
        stopped = _stop_all(launcher, web, scheduler, worker, redis, settings.DATA_DIR)
    return status if stopped else 1


def _serve(
    launcher: Launcher,
    port: str,
    web: Child,
    scheduler: Child,
    worker: Child,
    redis: list[subprocess.Popen],
) -> int:
    from django.conf import settings

    from config import embedded_redis

    if not os.environ.get("REDIS_URL") and not os.environ.get("REDIS_SENTINELS"):
        process = embedded_redis.start(settings.EMBEDDED_REDIS_SOCKET, settings.DATA_DIR)
        if process is not None:
            redis.append(process)
        os.environ["REDIS_URL"] = settings.REDIS_URL
    seed_output = ""
    for step in (
        ["migrate", "--noinput", "-v", "0"],
        ["collectstatic", "--noinput", "-v", "0"],
        ["seed_demo"],
    ):
        if launcher.stopping:
            return 0
        code, seed_output = _run_step(step, launcher)
        if launcher.stopping:
            return 0
        if code != 0:
            print(f"manage.py {step[0]} failed (status {code})", file=sys.stderr)
            return 1
    for child in (worker, scheduler, web):
        child.start()
    _print_welcome(port, seed_output)
    return _supervise(launcher, web, scheduler, worker, redis, settings.DATA_DIR)


def _stop_all(
    launcher: Launcher,
    web: Child,
    scheduler: Child,
    worker: Child,
    redis: list[subprocess.Popen],
    data_dir: Path,
) -> bool:
    """In dependency order, each waited for; False if PostgreSQL would not stop."""
    from config import embedded_postgres

    for child in (web, scheduler, worker):
        if child.stop(launcher):
            _said(f"stopped the {child.name}")
    for process in redis:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        _said("stopped Redis")
    if not os.environ.get("DATABASE_URL") and embedded_postgres.started_here(data_dir):
        try:
            embedded_postgres.stop(data_dir)
        except (OSError, RuntimeError) as error:
            print(f"could not stop PostgreSQL: {error}", file=sys.stderr)
            return False
        _said("stopped PostgreSQL")
    return True


def _supervise(
    launcher: Launcher,
    web: Child,
    scheduler: Child,
    worker: Child,
    redis: list[subprocess.Popen],
    data_dir: Path,
) -> int:
    """Until a signal: restarts the worker and the scheduler when they die; 1 when the web
    app, Redis or PostgreSQL stops on its own."""
    from config import embedded_postgres

    watch_postgres = not os.environ.get("DATABASE_URL")
    while not launcher.stopping:
        if web.exited() is not None:
            print(
                f"the web app stopped (status {web.exited()}); stopping the rest", file=sys.stderr
            )
            return 1
        if any(process.poll() is not None for process in redis):
            print("the embedded Redis stopped; stopping the rest", file=sys.stderr)
            return 1
        if watch_postgres and not embedded_postgres.is_running(data_dir):
            print("the embedded PostgreSQL stopped; stopping the rest", file=sys.stderr)
            return 1
        for child in (worker, scheduler):
            code = child.exited()
            if code is None:
                continue
            if child.restart_at is None:
                child.clear_group()
                delay = child.schedule_restart()
                print(
                    f"the {child.name} stopped (status {code}); starting it again in {delay:g} s",
                    file=sys.stderr,
                    flush=True,
                )
            elif time.monotonic() >= child.restart_at:
                child.start()
        launcher.sleep(0.5)
    return 0


def _run_step(args: list[str], launcher: Launcher) -> tuple[int, str]:
    """A management command, to its end or until a signal (then stopped); status and output."""
    process = subprocess.Popen(
        [*MANAGE, *args],
        cwd=BASE_DIR,
        process_group=0,
        stdout=subprocess.PIPE if args[0] == "seed_demo" else None,
        text=True,
    )
    while True:
        try:
            output, _ = process.communicate(timeout=0.2)
            return process.returncode, output or ""
        except subprocess.TimeoutExpired:
            if launcher.stopping:
                process.terminate()
                output, _ = process.communicate()
                return process.returncode, output or ""


def _said(message: str) -> None:
    print(f"make run: {message}", flush=True)


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
