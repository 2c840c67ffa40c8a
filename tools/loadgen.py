"""A small closed-loop HTTP load generator for `manage.py bench_api`.

Run as its own process (`python -m tools.loadgen CONFIG_JSON`) so that its
CPU use is not counted against the server's: each client thread POSTs payments
back to back until the time is up, on one connection while the server keeps it
open. It shares the server's two cores, so it is lean: each request's bytes are
built once and answers are read off the socket (http.client parses headers with
the e-mail package, a third of a core at these rates).
Prints one JSON object: completed payments, errors and latency percentiles.

Two options serve `manage.py bench_batch --payer-clients`: `"until_stdin_closes"` stops
the clients when the parent closes this process's standard input (or `seconds` pass),
and `"samples"` adds every request's start (Unix time), latency in ms and outcome, so the
parent can keep those sent while something else was going on.
"""

from __future__ import annotations

import json
import socket
import sys
import threading
import time
from urllib.parse import urlsplit


def percentile(sorted_values: list[float], fraction: float) -> float:
    if not sorted_values:
        return 0.0
    index = min(len(sorted_values) - 1, max(0, round(fraction * (len(sorted_values) - 1))))
    return sorted_values[index]


class Connection:
    """One HTTP/1.1 client connection that sends a prepared request and reads the answer."""

    def __init__(self, host: str, port: int):
        self.address = (host, port)
        self.sock: socket.socket | None = None
        self.buffer = b""

    def exchange(self, request: bytes) -> tuple[int, bytes]:
        if self.sock is None:
            self.sock = socket.create_connection(self.address, timeout=30)
            self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self.buffer = b""
        self.sock.sendall(request)
        while b"\r\n\r\n" not in self.buffer:
            self._receive()
        head, _, self.buffer = self.buffer.partition(b"\r\n\r\n")
        lines = head.split(b"\r\n")
        status = int(lines[0].split(b" ", 2)[1])
        headers = dict(
            (name.strip().lower(), value.strip())
            for name, _, value in (line.partition(b":") for line in lines[1:])
        )
        if b"content-length" in headers:
            length = int(headers[b"content-length"])
            while len(self.buffer) < length:
                self._receive()
            body, self.buffer = self.buffer[:length], self.buffer[length:]
        else:  # no length: the body ends when the server closes
            try:
                while True:
                    self._receive()
            except ConnectionError:
                pass
            body, self.buffer = self.buffer, b""
            self.close()
        if headers.get(b"connection", b"").lower() == b"close":
            self.close()
        return status, body

    def _receive(self) -> None:
        assert self.sock is not None  # called by exchange, which connects first
        chunk = self.sock.recv(65536)
        if not chunk:
            raise ConnectionError("the server closed the connection")
        self.buffer += chunk

    def close(self) -> None:
        if self.sock is not None:
            self.sock.close()
        self.sock = None


def prepared_request(url, job: dict) -> tuple[bytes, bytes]:
    """The request's bytes around its Idempotency-Key, which each payment has of its own
    (as a real client sends): the key goes between the two halves."""
    body = json.dumps(job["body"]).encode()
    head = (
        f"POST {url.path} HTTP/1.1\r\n"
        f"Host: {url.hostname}:{url.port}\r\n"
        f"Authorization: Bearer {job['key']}\r\n"
        "Content-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n"
        "Idempotency-Key: "
    )
    return head.encode(), b"\r\n\r\n" + body


def run(config: dict) -> dict:
    url = urlsplit(config["url"])
    clients = config["clients"]
    seconds = config["seconds"]
    latencies: list[list[float]] = [[] for _ in range(clients)]
    completed = [0] * clients
    errors = [0] * clients
    samples: list[list[list]] = [[] for _ in range(clients)]
    keep_samples = bool(config.get("samples"))
    stop = threading.Event()
    start_barrier = threading.Barrier(clients + 1)
    deadline_box: list[float] = []

    run_id = config.get("run_id", str(time.time_ns()))

    def client(index: int) -> None:
        before_key, after_key = prepared_request(url, config["jobs"][index % len(config["jobs"])])
        key_prefix = f"{run_id}-{index}-".encode()
        connection = Connection(url.hostname, url.port)
        start_barrier.wait()
        deadline = deadline_box[0]
        sent = 0
        while True:
            began = time.perf_counter()
            if began >= deadline or stop.is_set():
                break
            began_at = time.time()
            sent += 1
            request = b"".join((before_key, key_prefix, str(sent).encode(), after_key))
            ok = False
            try:
                status, payload = connection.exchange(request)
                elapsed = time.perf_counter() - began
                if status == 201 and b'"status":"completed"' in payload:
                    ok = True
                    completed[index] += 1
                    latencies[index].append(elapsed)
                else:
                    errors[index] += 1
            except (OSError, ValueError, IndexError):
                elapsed = time.perf_counter() - began
                errors[index] += 1
                connection.close()
            if keep_samples:
                samples[index].append([began_at, round(elapsed * 1000, 3), ok])
        connection.close()

    if config.get("until_stdin_closes"):

        def watch_stdin() -> None:
            sys.stdin.read()  # returns at end of file: the parent closed the pipe
            stop.set()

        threading.Thread(target=watch_stdin, daemon=True).start()
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
    result = {
        "clients": clients,
        "seconds": round(elapsed, 2),
        "payments": sum(completed),
        "payments_per_s": round(sum(completed) / elapsed, 1),
        "p50_ms": round(percentile(all_latencies, 0.50) * 1000, 2),
        "p95_ms": round(percentile(all_latencies, 0.95) * 1000, 2),
        "p99_ms": round(percentile(all_latencies, 0.99) * 1000, 2),
        "errors": sum(errors),
    }
    if keep_samples:
        result["samples"] = sorted(sample for values in samples for sample in values)
    return result


if __name__ == "__main__":
    print(json.dumps(run(json.loads(sys.argv[1]))))
