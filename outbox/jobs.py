"""RQ jobs of the outbox, run by the cron scheduler (config/cron.py)."""

from __future__ import annotations

from outbox import services


def sweep_outbox() -> int:
    return len(services.sweep())


def purge_outbox() -> int:
    return services.purge_done()
