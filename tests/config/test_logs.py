"""`make run`'s console is for a person (issue 22, point 6): readable lines, the background
jobs' routine quieted, and the demo's credentials printable again at any time."""

from __future__ import annotations

import json
import logging
import re
from io import StringIO

import pytest
import structlog
from django.core.management import CommandError, call_command

from config import run
from config.logs import JOB_LOGGERS, logging_config_from_env


def render(config: dict, logger: str, message: str) -> str:
    options = dict(config["formatters"]["structured"])
    factory = options.pop("()")
    formatter = factory(**options)
    record = logging.LogRecord(logger, logging.INFO, __file__, 1, message, None, None)
    return formatter.format(record)


def test_make_run_asks_for_console_lines_and_quiet_jobs_unless_told_otherwise():
    assert run.DESK_DEFAULTS["LOG_FORMAT"] == "console"
    assert run.DESK_DEFAULTS["LOG_JOBS_LEVEL"] == "WARNING"


def test_console_lines_are_for_a_person_and_json_stays_the_default(monkeypatch):
    monkeypatch.delenv("LOG_FORMAT", raising=False)
    monkeypatch.delenv("LOG_JOBS_LEVEL", raising=False)
    production = logging_config_from_env()
    line = render(production, "payhub.request", "request")
    assert json.loads(line)["event"] == "request"
    assert not any(name in production["loggers"] for name in JOB_LOGGERS)

    for name, value in run.DESK_DEFAULTS.items():
        monkeypatch.setenv(name, value)
    desk = logging_config_from_env()
    line = render(desk, "payhub.request", "request")
    assert not line.startswith("{") and "request" in line and "payhub.request" in line
    assert {desk["loggers"][name]["level"] for name in JOB_LOGGERS} == {"WARNING"}


def test_the_worker_is_started_quiet_under_make_run(monkeypatch):
    monkeypatch.setenv("LOG_JOBS_LEVEL", "WARNING")
    assert run._quiet() == ["--verbosity", "0"]  # rqworker's own loggers follow its verbosity
    monkeypatch.setenv("LOG_JOBS_LEVEL", "INFO")
    assert run._quiet() == []


@pytest.mark.django_db
def test_demo_credentials_prints_the_block_of_make_run_again():
    seeded = StringIO()
    call_command("seed_demo", stdout=seeded)
    demo = json.loads(seeded.getvalue().strip().splitlines()[-1])

    out = StringIO()
    call_command("demo_credentials", "--base-url", "http://127.0.0.1:9000", stdout=out)
    lines = out.getvalue().strip().splitlines()

    assert "http://127.0.0.1:9000/accounts/login/" in lines[1]
    for user in demo["users"]:
        at = next(
            i
            for i, line in enumerate(lines)
            if re.fullmatch(
                rf"\s*{user['role']}\s+{user['username']}\s+password {user['password']}", line
            )
        )
        assert lines[at + 1].strip() == (
            f"TOTP secret (for an authenticator app): {user['totp_secret']}"
        )
    assert json.loads(lines[-1])["users"] == demo["users"]  # CONTRACT.md: JSON last


@pytest.mark.django_db
def test_demo_credentials_without_a_demo_says_how_to_make_one():
    with pytest.raises(CommandError, match="make run"):
        call_command("demo_credentials", stdout=StringIO())
    structlog.contextvars.clear_contextvars()


def test_gunicorn_logs_each_request_once_and_takes_a_level_in_lower_case(tmp_path):
    """The middleware's line per request, and no second one from gunicorn's access logger
    (which a logging dict turns on); LOG_LEVEL=info works as INFO does."""
    import os
    import socket
    import subprocess
    import sys
    import time
    import urllib.request

    from django.conf import settings

    from tools.management.commands.bench_api import free_port

    port = free_port()
    env = {
        **os.environ,
        "LOG_LEVEL": "info",
        "LOG_FORMAT": "json",
        # Nothing listens there: /healthz answers 503 at once, logged all the same.
        "DATABASE_URL": "postgres://postgres@127.0.0.1:9/none",
        "REDIS_URL": "redis://127.0.0.1:9/0",
        "DATA_DIR": str(tmp_path),
    }
    log = tmp_path / "gunicorn.log"
    with log.open("wb") as out:
        server = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "gunicorn",
                "-c",
                "config/gunicorn.py",
                "config.wsgi",
                "--bind",
                f"127.0.0.1:{port}",
                "--workers",
                "1",
            ],
            cwd=settings.BASE_DIR,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
        try:
            deadline = time.monotonic() + 60
            while True:  # listening (its /healthz answers 503 here: no database)
                assert server.poll() is None and time.monotonic() < deadline
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=1).close()
                    break
                except OSError:
                    time.sleep(0.2)
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz?once", timeout=30)  # noqa: S310
            except urllib.error.HTTPError as error:
                assert error.code == 503
        finally:
            server.terminate()
            server.wait(timeout=30)
    lines = [json.loads(line) for line in log.read_text().splitlines() if line.startswith("{")]
    access = [
        line["logger"]
        for line in lines
        if "/healthz" in json.dumps(line)
        and line["logger"] in ("payhub.request", "gunicorn.access")
    ]
    assert access == ["payhub.request"], lines
