"""The outbox's own Prometheus counters (summed across processes like payments.metrics)."""

from __future__ import annotations

from prometheus_client import Counter

OUTBOX_RUNS = Counter(
    "payhub_outbox_runs",
    "Outbox jobs run by a worker, by outcome",
    ["job", "outcome"],
)
OUTBOX_RESENT = Counter(
    "payhub_outbox_resent",
    "Outbox jobs sent again by the sweep (lost, or their worker's heartbeat stopped)",
    ["reason"],
)
