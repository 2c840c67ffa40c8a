"""`python -m config.metrics_exporter --bind ADDRESS:PORT`: /metrics of a host that runs
only RQ workers (no web process to scrape there). It adds up the counter files that the
workers and their work horses write into PROMETHEUS_MULTIPROC_DIR; the backlog gauges
(queues, outbox, webhooks) come from any web host's /metrics. Bind it to a private address:
it has no access control of its own (docs/operations.md, "Metrics")."""

from __future__ import annotations

import argparse
import os
import sys
import time

from prometheus_client import CollectorRegistry, multiprocess, start_http_server


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bind", default="127.0.0.1:9101", help="ADDRESS:PORT to serve on")
    options = parser.parse_args(argv)
    if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        print("set PROMETHEUS_MULTIPROC_DIR to the workers' metrics directory", file=sys.stderr)
        return 2
    address, _, port = options.bind.rpartition(":")
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry)
    start_http_server(int(port), addr=address or "127.0.0.1", registry=registry)
    while True:
        time.sleep(3600)


if __name__ == "__main__":
    sys.exit(main())
