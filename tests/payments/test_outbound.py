"""Webhooks cannot be aimed inward (issue 18, point 10).

The attacker is a merchant: it sets its webhook URL to an internal service, a cloud metadata
address, a name that resolves inside, or a public endpoint that redirects inside, and reads
what the hub shows it of each attempt.
"""

from __future__ import annotations

import ipaddress
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from common import outbound
from payments import services, webhooks
from payments.models import WebhookDelivery
from tests.factories import AccountFactory, MerchantFactory, fund

SECRET = "internal-admin-token-42"


class Server:
    """A server on 127.0.0.1: the internal service, or the merchant's endpoint."""

    def __init__(self, status: int = 200, location: str = "", body: str = SECRET):
        self.hits: list[dict] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self):
                server.hits.append({"path": self.path, "host": self.headers.get("host")})
                self.send_response(status)
                if location:
                    self.send_header("location", location)
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body.encode())

            do_GET = do_POST = _answer

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.httpd.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}/hooks"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def servers():
    made: list[Server] = []

    def make(**kwargs) -> Server:
        made.append(Server(**kwargs))
        return made[-1]

    yield make
    for one in made:
        one.close()


def attempt_at(url: str):
    merchant = MerchantFactory(webhook_url=url)
    account = AccountFactory(merchant=merchant, currency="EUR")
    fund(account, 10_000)
    payee = AccountFactory(merchant=None, currency="EUR")
    services.payment_authorize(
        merchant=merchant, debtor=account, creditor=payee, amount=100, currency="EUR"
    )
    delivery = WebhookDelivery.objects.get(merchant=merchant)
    webhooks.deliver(delivery_id=delivery.id)
    delivery.refresh_from_db()
    return delivery, delivery.attempts.get()


@pytest.mark.django_db
def test_an_internal_service_is_never_contacted(servers, settings):
    settings.WEBHOOK_ALLOW_PRIVATE = False
    internal = servers()

    delivery, attempt = attempt_at(internal.url)

    assert internal.hits == []
    assert attempt.status_code is None and attempt.error.startswith("refused")
    assert SECRET not in attempt.error and attempt.response_excerpt == ""
    assert delivery.status == "pending"  # retried on its schedule, refused each time


@pytest.mark.django_db
@pytest.mark.parametrize(
    "url",
    [
        "http://169.254.169.254/latest/meta-data/",  # cloud metadata (link-local)
        "http://localhost:6379/",
        "http://[::1]:8000/",
        "http://[::ffff:127.0.0.1]:8000/",
        "http://10.0.0.5/",
        "http://100.64.0.1/",  # shared address space
        "http://0.0.0.0:8000/",
        "http://224.0.0.1/",
        "file:///etc/passwd",
        "http://user:pass@example.com/",
    ],
)
def test_inward_and_odd_targets_are_refused_before_any_connection(url, settings, monkeypatch):
    settings.WEBHOOK_ALLOW_PRIVATE = False

    def no_connection(*args, **kwargs):
        raise AssertionError("a connection was attempted")

    monkeypatch.setattr(socket, "create_connection", no_connection)
    monkeypatch.setattr("urllib3.util.connection.create_connection", no_connection)

    _delivery, attempt = attempt_at(url)

    assert attempt.error.startswith("refused"), attempt.error


@pytest.mark.django_db
def test_a_redirect_inward_is_not_followed(servers):
    internal = servers()
    endpoint = servers(status=302, location=f"{internal.url}/admin", body="")

    delivery, attempt = attempt_at(endpoint.url)

    assert len(endpoint.hits) == 1 and internal.hits == []
    assert attempt.status_code == 302 and "not followed" in attempt.error
    assert delivery.status == "pending"


def fake_dns(monkeypatch, answers: dict[str, list[str]]) -> list[str]:
    asked: list[str] = []
    real = socket.getaddrinfo

    def getaddrinfo(host, port, *args, **kwargs):
        if host in answers:
            asked.append(host)
            return [
                (
                    socket.AF_INET6 if ":" in ip else socket.AF_INET,
                    socket.SOCK_STREAM,
                    6,
                    "",
                    (ip, port),
                )
                for ip in answers[host]
            ]
        return real(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return asked


def test_a_name_with_any_inward_address_is_refused(monkeypatch):
    fake_dns(monkeypatch, {"hooks.example": ["93.184.216.34", "127.0.0.1"]})
    with pytest.raises(outbound.OutboundRefused, match="not a public address"):
        outbound.resolve("hooks.example", 80, allow_private=False)


def test_the_checked_address_is_the_one_connected_to(servers, monkeypatch):
    """DNS rebinding: the name is resolved once, checked, and that address is dialled; the
    name still goes in the Host header."""
    endpoint = servers(status=204, body="")
    asked = fake_dns(monkeypatch, {"hooks.example": ["127.0.0.1"]})

    answer = outbound.post(
        f"http://hooks.example:{endpoint.port}/hooks",
        body=b"{}",
        headers={"content-type": "application/json"},
        timeout=5,
        allow_private=True,
    )

    assert answer.status == 204 and asked == ["hooks.example"]
    assert endpoint.hits == [{"path": "/hooks", "host": f"hooks.example:{endpoint.port}"}]


@pytest.mark.parametrize(
    ("address", "public"),
    [
        ("93.184.216.34", True),
        ("2606:2800:220:1:248:1893:25c8:1946", True),
        ("192.168.1.1", False),
        ("172.16.0.1", False),
        ("fe80::1", False),
        ("fc00::1", False),
        ("240.0.0.1", False),
        ("::ffff:10.0.0.1", False),
    ],
)
def test_public_means_globally_routable_unicast(address, public):
    refusal = outbound.address_refusal(ipaddress.ip_address(address), allow_private=False)
    assert (refusal is None) is public
