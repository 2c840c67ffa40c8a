"""What a peer's answer can do to this hub's posts (the pacs.008's and the payee check's):
a redirect is not followed (not even to this machine), an answer too large, not HTTP, or a
5xx is no answer, and an address where nothing listens is a peer not reached."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from clearing import transport
from clearing.models import Peer
from compliance.vop import requester

pytestmark = pytest.mark.django_db


@contextmanager
def _server(answer) -> Iterator[tuple[str, list[str]]]:
    """An HTTP server on 127.0.0.1 answering every POST with `answer(handler)`; its URL and
    the paths it was asked for."""
    asked: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            asked.append(self.path)
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            answer(self)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", asked
    finally:
        server.shutdown()
        server.server_close()


def _raw_server(payload: bytes) -> tuple[str, socket.socket]:
    """A TCP server that answers any request with `payload` (not HTTP) and hangs up."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)

    def serve():
        connection, _ = listener.accept()
        with connection:
            connection.recv(65536)
            connection.sendall(payload)

    threading.Thread(target=serve, daemon=True).start()
    return f"http://127.0.0.1:{listener.getsockname()[1]}", listener


def _peer(url: str) -> Peer:
    return Peer.objects.create(bic="PEERFRPPXXX", url=url, public_key="x", iban_prefixes=["FR"])


def _redirect_to(target: str):
    def answer(handler):
        handler.send_response(307)
        handler.send_header("Location", f"{target}/internal/")
        handler.send_header("Content-Length", "0")
        handler.end_headers()

    return answer


def test_a_redirect_is_not_followed_by_a_transfer_nor_a_payee_check(settings):
    with _server(lambda h: h.send_error(500)) as (inside, reached):
        with _server(_redirect_to(inside)) as (url, _):
            answer = transport.post(peer=_peer(url), body=b"<x/>", sender_bic="PYHBDEFFXXX")
            status, _body = requester.http_post(url + "/vop/", b"{}", {}, timeout=5)
    assert (answer.status, status) == (307, 307)
    assert reached == []  # the address the peer pointed at was never asked


def test_an_answer_too_large_not_http_or_5xx_is_no_answer(settings):
    settings.CLEARING_MAX_BODY_BYTES = 100

    def large(handler):
        handler.send_response(200)
        handler.send_header("Content-Length", "1000")
        handler.end_headers()
        handler.wfile.write(b"x" * 1000)

    with _server(large) as (url, _):
        with pytest.raises(transport.TransportError, match="more than 100 bytes"):
            transport.post(peer=_peer(url), body=b"<x/>", sender_bic="PYHBDEFFXXX")
    Peer.objects.all().delete()
    settings.CLEARING_MAX_BODY_BYTES = 256 * 1024
    with _server(lambda h: h.send_error(503)) as (url, _):
        with pytest.raises(transport.TransportError, match="answered 503"):
            transport.post(peer=_peer(url), body=b"<x/>", sender_bic="PYHBDEFFXXX")
    Peer.objects.all().delete()
    url, listener = _raw_server(b"NOT HTTP AT ALL\r\n\r\n")
    with listener, pytest.raises(transport.TransportError, match="not reached"):
        transport.post(peer=_peer(url), body=b"<x/>", sender_bic="PYHBDEFFXXX")
    url, listener = _raw_server(b"SSH-2.0-OpenSSH\r\n")
    with listener, pytest.raises(OSError, match="no HTTP answer"):
        requester.http_post(url + "/vop/", b"{}", {}, timeout=5)


def test_a_peer_where_nothing_listens_is_not_reached():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(transport.TransportError, match="not reached"):
        transport.post(
            peer=_peer(f"http://127.0.0.1:{port}"), body=b"<x/>", sender_bic="PYHBDEFFXXX"
        )
