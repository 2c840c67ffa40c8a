"""A small closed-loop HTTP load generator for `manage.py bench_api`.

Run as its own process (`python -m payments.loadgen CONFIG_JSON`) so that its
CPU use is not counted against the server's: each client thread keeps one
connection open and POSTs payments back to back until the time is up.
Prints one JSON object: completed payments, errors and latency percentiles.
"""

from __future__ import annotations

import http.client
import json
import sys
import threading
import time
from urllib.parse import urlsplit


def percentile(sorted_values: list[float], fraction: float) -> float:
    if not sorted_values:
        return 0.0
    index = min(len(sorted_values) - 1, max(0, round(fraction * (len(sorted_values) - 1))))
    return sorted_values[index]


def run(config: dict) -> dict:
    url = urlsplit(config["url"])
    clients = config["clients"]
    seconds = config["seconds"]
    latencies: list[list[float]] = [[] for _ in range(clients)]
    completed = [0] * clients
    errors = [0] * clients
    start_barrier = threading.Barrier(clients + 1)
    deadline_box: list[float] = []

    def client(index: int) -> None:
        job = config["jobs"][index % len(config["jobs"])]
        body = json.dumps(job["body"]).encode()
        headers = {"Authorization": f"Bearer {job['key']}", "Content-Type": "application/json"}
        connection = http.client.HTTPConnection(url.hostname, url.port, timeout=30)
        start_barrier.wait()
        deadline = deadline_box[0]
        while True:
            began = time.perf_counter()
            if began >= deadline:
                break
            try:
                connection.request("POST", url.path, body=body, headers=headers)
                response = connection.getresponse()
                payload = response.read()
                elapsed = time.perf_counter() - began
                if response.status == 201 and b'"status":"completed"' in payload:
                    completed[index] += 1
                    latencies[index].append(elapsed)
                else:
                    errors[index] += 1
            except (OSError, http.client.HTTPException):
                errors[index] += 1
                connection.close()
                connection = http.client.HTTPConnection(url.hostname, url.port, timeout=30)
        connection.close()

    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    for thread in threads:
        thread.start()
    began = time.perf_counter()
    deadline_box.append(began + seconds)
    start_barrier.wait()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - began
    all_latencies = sorted(value for values in latencies for value in values)
    return {
        "clients": clients,
        "seconds": round(elapsed, 2),
        "payments": sum(completed),
        "payments_per_s": round(sum(completed) / elapsed, 1),
        "p50_ms": round(percentile(all_latencies, 0.50) * 1000, 2),
        "p95_ms": round(percentile(all_latencies, 0.95) * 1000, 2),
        "p99_ms": round(percentile(all_latencies, 0.99) * 1000, 2),
        "errors": sum(errors),
    }


if __name__ == "__main__":
    print(json.dumps(run(json.loads(sys.argv[1]))))
