"""The benchmark's load generator reads HTTP answers right, kept-alive or closed."""

from __future__ import annotations

import io
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from tools import loadgen


class Receiver(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    close_each: bool = False
    answers: list[tuple[int, dict]] = []
    seen: list[dict] = []

    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        type(self).seen.append(
            {
                "auth": self.headers["Authorization"],
                "path": self.path,
                "idempotency_key": self.headers["Idempotency-Key"],
                **json.loads(body),
            }
        )
        status, payload = type(self).answers[(len(type(self).seen) - 1) % len(type(self).answers)]
        content = json.dumps(payload, separators=(",", ":")).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(content)))
        if type(self).close_each:
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        self.wfile.write(content)

    def log_message(self, *args):
        pass


@pytest.fixture(params=[False, True], ids=["keep-alive", "close"])
def receiver(request):
    handler = type("Handler", (Receiver,), {"close_each": request.param, "answers": [], "seen": []})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield handler, f"http://127.0.0.1:{server.server_address[1]}/api/v1/payments/"
    server.shutdown()
    server.server_close()


def job(n: int) -> dict:
    return {"key": f"key{n}", "body": {"amount": "1.00", "reference": f"r{n}"}}


def test_completed_payments_are_counted_and_other_answers_are_errors(receiver):
    handler, url = receiver
    handler.answers = [
        (201, {"id": "p", "status": "completed"}),
        (201, {"id": "p", "status": "failed"}),
        (429, {"code": "throttled"}),
    ]
    result = loadgen.run({"url": url, "clients": 2, "seconds": 0.3, "jobs": [job(0), job(1)]})
    seen = len(handler.seen)
    assert seen >= 3
    assert result["payments"] + result["errors"] == seen
    assert result["payments"] == pytest.approx(seen / 3, abs=2)
    assert result["p50_ms"] > 0 and result["p99_ms"] >= result["p50_ms"]
    # each client sends its own job's key and body to the URL's path
    assert {(s["auth"], s["reference"], s["path"]) for s in handler.seen} == {
        ("Bearer key0", "r0", "/api/v1/payments/"),
        ("Bearer key1", "r1", "/api/v1/payments/"),
    }
    # every payment carries an Idempotency-Key of its own, as a real client sends
    keys = [s["idempotency_key"] for s in handler.seen]
    assert all(keys) and len(set(keys)) == len(keys)


def test_samples_give_each_request_its_start_latency_and_outcome(receiver):
    handler, url = receiver
    handler.answers = [(201, {"id": "p", "status": "completed"}), (409, {"code": "x"})]
    before = time.time()
    result = loadgen.run(
        {"url": url, "clients": 1, "seconds": 0.2, "jobs": [job(0)], "samples": True}
    )
    samples = result["samples"]
    assert len(samples) == len(handler.seen) == result["payments"] + result["errors"]
    assert [ok for *_, ok in samples] == [n % 2 == 0 for n in range(len(samples))]
    assert all(before <= began <= time.time() and latency > 0 for began, latency, _ in samples)


def test_until_stdin_closes_stops_the_clients_at_end_of_file(receiver, monkeypatch):
    handler, url = receiver
    handler.answers = [(201, {"id": "p", "status": "completed"})]
    monkeypatch.setattr("sys.stdin", io.StringIO(""))  # the parent closed the pipe at once
    result = loadgen.run(
        {"url": url, "clients": 2, "seconds": 30, "jobs": [job(0)], "until_stdin_closes": True}
    )
    # Stopped by the closed input, not by its 30 s deadline (however slow the machine).
    assert result["seconds"] < 30
    assert "samples" not in result
