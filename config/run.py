"""`make run`: the whole product on one machine.

Starts the embedded PostgreSQL (DATABASE_URL unset) and the embedded Redis (REDIS_URL
unset), migrates, seeds the demo on first run, then serves the web app (gunicorn), an RQ
worker and the rqcron scheduler; a worker or scheduler that dies is started again.
Ctrl-C (or SIGTERM) stops them in dependency order: web, scheduler, worker, Redis, then
PostgreSQL, each waited for before the next; the exit status is then 0.

Every child runs in a process group of its own, so the terminal's Ctrl-C (sent to the
foreground group: `make` and this launcher) reaches this launcher alone and the launcher
does the stopping; `make` waits for it. Nothing of the hub outlives the launcher: each
child's whole group is stopped and waited for (an RQ worker's scheduler process, gunicorn's
workers; an RQ work horse, in a session of its own, ends with its worker: a warm shutdown
waits for its job, a cold one kills it), and the launcher is the "subreaper" of its
descendants (Linux), so a process whose parent died is still its child, stopped and
reaped before the launcher exits.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from config import processes

BASE_DIR = Path(__file__).resolve().parent.parent
MANAGE = [sys.executable, str(BASE_DIR / "manage.py")]
STOP_SIGNALS = {signal.SIGINT, signal.SIGTERM}


# What `make run` sets unless the environment says otherwise.
DESK_DEFAULTS = {
    # Plain HTTP on localhost: cookies marked Secure would never come back.
    "SECURE_COOKIES": "false",
    # A person reads this console: log lines for a terminal, and the background jobs' routine
    # (a sweep every 10 s) only when something goes wrong. Production keeps JSON (config/logs.py).
    "LOG_FORMAT": "console",
    "LOG_JOBS_LEVEL": "WARNING",
}


def main() -> int:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    for name, value in DESK_DEFAULTS.items():
        os.environ.setdefault(name, value)
    launcher = processes.Launcher()
    launcher.install()
    processes.become_subreaper()
    import django

    # The settings start the embedded PostgreSQL when DATABASE_URL is unset (and this
    # process, having started it, stops it last); every child then finds it running.
    # On a first start they run initdb and pg_ctl, in this process group: blocked here
    # (and so in them, which inherit the mask), the terminal's Ctrl-C waits for the end of
    # the setup and then reaches this launcher alone, which stops what was started.
    signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
    try:
        django.setup()
    finally:
        signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)
    from django.conf import settings

    port = os.environ.get("PORT", "8000")
    web = processes.Child(
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
    scheduler = processes.Child(
        "scheduler",
        [*MANAGE, "rqcron", "config.cron", "--logging-level", "WARNING"],
        stop_seconds=10,
    )
    worker = processes.Child(
        "worker",
        [*MANAGE, "rqworker", "default", "batches", "webhooks", "--with-scheduler", *_quiet()],
        stop_seconds=60,  # the job under way finishes first
    )
    redis: list[subprocess.Popen] = []
    try:
        status = _serve(launcher, port, web, scheduler, worker, redis)
    finally:
        stopped = _stop_all(launcher, web, scheduler, worker, redis, settings.DATA_DIR)
    if stopped:
        processes.stop_leftovers()
    return status if stopped else 1


def _serve(
    launcher: processes.Launcher,
    port: str,
    web: processes.Child,
    scheduler: processes.Child,
    worker: processes.Child,
    redis: list[subprocess.Popen],
) -> int:
    from django.conf import settings

    from config import embedded_redis

    if launcher.stopping:  # Ctrl-C while the settings started PostgreSQL
        return 0
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
    share_metrics_dir(settings.DATA_DIR)
    for child in (worker, scheduler, web):
        child.start()
    _print_welcome(port, seed_output)
    return _supervise(launcher, web, scheduler, worker, redis, settings.DATA_DIR)


def _stop_all(
    launcher: processes.Launcher,
    web: processes.Child,
    scheduler: processes.Child,
    worker: processes.Child,
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
    launcher: processes.Launcher,
    web: processes.Child,
    scheduler: processes.Child,
    worker: processes.Child,
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


def _run_step(args: list[str], launcher: processes.Launcher) -> tuple[int, str]:
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


def share_metrics_dir(data_dir: Path) -> Path:
    """One PROMETHEUS_MULTIPROC_DIR for every child (gunicorn's workers, the RQ worker and its
    work horses, the scheduler), emptied here before they start: /metrics then counts the
    payments a batch execution made in the worker too, not only the web processes'.
    gunicorn is told not to empty it again (it starts after the worker)."""
    directory = Path(os.environ.get("PROMETHEUS_MULTIPROC_DIR") or data_dir / "metrics")
    directory.mkdir(parents=True, exist_ok=True)
    for stale in directory.glob("*.db"):
        stale.unlink()
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(directory)
    os.environ["METRICS_DIR_CLEAR_ON_START"] = "false"
    return directory


def _quiet() -> list[str]:
    """rqworker sets RQ's loggers from its verbosity, over LOGGING: -v 0 (warnings only)
    when LOG_JOBS_LEVEL asks for no routine lines."""
    level = os.environ.get("LOG_JOBS_LEVEL", "").strip().upper()
    return ["--verbosity", "0"] if level in ("WARNING", "ERROR", "CRITICAL") else []


def _said(message: str) -> None:
    print(f"make run: {message}", flush=True)


def _print_welcome(port: str, seed_output: str) -> None:
    import json

    from batches.management.commands.seed_demo import credentials_block

    lines = seed_output.strip().splitlines()
    demo = json.loads(lines[-1]) if lines else {}
    print("\n" + "=" * 72)
    print(credentials_block(demo, base_url=f"http://127.0.0.1:{port}"))
    print("  Ctrl-C stops everything. `manage.py demo_credentials` prints this block again.")
    print("=" * 72 + "\n", flush=True)


if __name__ == "__main__":
    sys.exit(main())
