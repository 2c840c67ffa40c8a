"""CPU time spent by the processes a benchmark cares about, read from /proc (Linux): a
server's process with its children (gunicorn's master and workers), and PostgreSQL's.

A benchmark takes a `snapshot` before and after its load and divides the difference by
the work done: CPU milliseconds a payment, per part. That figure does not depend on how
many cores the parts share, which throughput on one small machine does.
"""

from __future__ import annotations

import os
from pathlib import Path

_TICK = os.sysconf("SC_CLK_TCK")


def _processes() -> list[tuple[int, int, str, float, float]]:
    """(pid, parent pid, command name, CPU seconds of user and system, CPU seconds of its
    children that have ended and been waited for) of every process."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            text = (entry / "stat").read_text()
        except OSError:  # gone meanwhile
            continue
        name = text[text.index("(") + 1 : text.rindex(")")]
        # proc(5) from field 3 on: [1] the parent's pid, [11] utime, [12] stime,
        # [13] cutime, [14] cstime (clock ticks)
        fields = [*text[text.rindex(")") + 2 :].split()[:15]]
        used = (int(fields[11]) + int(fields[12])) / _TICK
        ended = (int(fields[13]) + int(fields[14])) / _TICK
        found.append((int(entry.name), int(fields[1]), name, used, ended))
    return found


def snapshot(servers: dict[str, int]) -> dict[str, float]:
    """CPU seconds so far of each named server (its pid and its children's, ended children
    included: a worker recycled in between still counts) and of PostgreSQL (every process
    named `postgres`, and the ended backends its postmaster waited for)."""
    processes = _processes()
    names = {pid: name for pid, _, name, _, _ in processes}
    seconds = {name: 0.0 for name in servers}
    seconds["postgres"] = 0.0
    for pid, parent, name, used, ended in processes:
        for server, root in servers.items():
            if pid == root:
                seconds[server] += used + ended
            elif parent == root:
                seconds[server] += used
        if name == "postgres":
            postmaster = names.get(parent) != "postgres"
            seconds["postgres"] += used + (ended if postmaster else 0.0)
    return seconds


def per_unit_ms(before: dict[str, float], after: dict[str, float], units: int) -> dict[str, float]:
    """Milliseconds of CPU a unit of work (a payment), per part and in all."""
    if units <= 0:
        return {}
    spent = {part: round(1000 * (after[part] - before[part]) / units, 2) for part in after}
    spent["total"] = round(sum(value for part, value in spent.items()), 2)
    return spent
