"""The production WSGI entry point (config.wsgi): the API's short middleware chain."""

from __future__ import annotations

import io
import json
from wsgiref.util import setup_testing_defaults

import pytest

from config import wsgi
from payments.models import Payment

pytestmark = pytest.mark.usefixtures("keep_test_connection")


def call(method: str, path: str, body: dict | None = None, **headers) -> tuple[int, dict, bytes]:
    data = json.dumps(body).encode() if body is not None else b""
    environ = {
        "REQUEST_METHOD": method,
        "PATH_INFO": path,
        "wsgi.input": io.BytesIO(data),
        "CONTENT_LENGTH": str(len(data)),
        "CONTENT_TYPE": "application/json",
        "SERVER_NAME": "testserver",
        "HTTP_HOST": "testserver",
        **{f"HTTP_{name.upper()}": value for name, value in headers.items()},
    }
    setup_testing_defaults(environ)
    answer: dict = {}

    def start_response(status, response_headers, exc_info=None):
        answer["status"] = int(status.split()[0])
        answer["headers"] = {name.lower(): value for name, value in response_headers}

    chunks = wsgi.application(environ, start_response)
    content = b"".join(chunks)
    getattr(chunks, "close", lambda: None)()
    return answer["status"], answer["headers"], content


def test_a_payment_through_the_api_chain(shop):
    status, headers, content = call(
        "POST",
        "/api/v1/payments/",
        {
            "debtor_account": shop.account.number,
            "creditor_account": shop.payee.number,
            "amount": "12.50",
            "currency": "EUR",
        },
        authorization=f"Bearer {shop.key}",
    )
    assert status == 201, content
    assert json.loads(content)["status"] == "completed"
    assert Payment.objects.get().amount == 1250
    # the API's chain: security headers and a length, no cookie, no browser policy
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["content-length"] == str(len(content))
    assert "set-cookie" not in headers
    assert "content-security-policy" not in headers


def test_api_errors_keep_their_shape_on_the_api_chain(shop):
    status, _, content = call("GET", "/api/v1/payments/")
    assert status == 401 and json.loads(content)["code"] == "not_authenticated"
    status, _, content = call("GET", "/api/v1/no-such-thing/", authorization=f"Bearer {shop.key}")
    assert status == 404 and json.loads(content)["code"] == "not_found"


def test_browser_pages_keep_the_browser_chain(db):
    status, headers, _ = call("GET", "/accounts/login/")
    assert status == 200
    assert "content-security-policy" in headers
    assert headers["x-frame-options"] == "DENY"
