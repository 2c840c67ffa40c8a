"""The hub's own Prometheus metrics: counted where the work happens, cheap on the hot path.

Counters live in process memory (in PROMETHEUS_MULTIPROC_DIR's files under gunicorn and
the workers, summed at scrape time); the backlog gauges (queue depth, oldest job, webhook
backlog) are read from Redis and the database when /metrics is scraped (config/metrics.py).
"""

from __future__ import annotations

from prometheus_client import Counter

PAYMENTS = Counter(
    "payhub_payments",
    "Payments made, by the status they ended the request or batch row in",
    ["status", "channel"],
)
BATCH_ROWS = Counter(
    "payhub_batch_rows",
    "Batch rows executed, by outcome (rate() of it is the batch rows per second)",
    ["outcome"],
)
