"""The API documentation pages in a real browser: Swagger UI (/api/docs/) and ReDoc
(/api/redoc/) render every operation under the site's Content Security Policy, with no
console error and no request to any host but the server's (no CDN, no web fonts).

The product runs as in tests/e2e/test_browser.py (`python -m config.run`, through the
launcher); the browser is that suite's Chromium, which skips the module without it.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import pytest

from tests.e2e import test_browser as browser_suite
from tests.e2e.launcher import (
    free_port,
    fresh_data_dir,
    get,
    kill_leftovers,
    product_env,
    start_product,
    wait_for,
)

pytestmark = pytest.mark.e2e

browser = browser_suite.browser  # the suite's Chromium (module scope), as a fixture here
expect = browser_suite.expect
WAIT_MS = 90_000  # only a bound (a 1 MB bundle on a busy machine): each wait ends when it can


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    """The product in a data folder of its own; its base URL. The docs need no login."""
    port = free_port()
    data_dir = fresh_data_dir("api-docs")  # reachable by the embedded PostgreSQL's user
    env = product_env(data_dir, port)
    launcher = start_product(env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for(base + "/healthz", launcher)
        yield base
    finally:
        if launcher.poll() is None:
            os.killpg(launcher.pid, signal.SIGINT)  # Ctrl-C
        try:
            launcher.wait(timeout=120)
        except subprocess.TimeoutExpired:
            launcher.kill()
        kill_leftovers(launcher, data_dir)
        shutil.rmtree(data_dir, ignore_errors=True)


@dataclass
class Watched:
    """What a page did besides rendering: console errors, uncaught exceptions, and every
    request made in its browser context whose origin is not the server's."""

    origin: str
    errors: list[str] = field(default_factory=list)
    outside: list[str] = field(default_factory=list)

    def request(self, request) -> None:
        url = request.url
        if url.startswith("data:"):
            return
        parts = urlsplit(url.removeprefix("blob:"))
        if f"{parts.scheme}://{parts.netloc}" != self.origin:
            self.outside.append(url)


def directives(policy: str) -> dict[str, list[str]]:
    """A Content-Security-Policy header as {directive: [source, ...]}."""
    parsed = (directive.split() for directive in policy.split(";"))
    return {words[0]: words[1:] for words in parsed if words}


@pytest.fixture
def open_page(server, browser):
    """A fresh browser context watched from its first request; yields (page, Watched)."""
    contexts = []

    def opener():
        context = browser.new_context(viewport=browser_suite.VIEWPORT)
        context.set_default_timeout(WAIT_MS)
        contexts.append(context)
        watched = Watched(origin=server)
        context.on("request", watched.request)
        page = context.new_page()
        page.on("console", lambda m: m.type == "error" and watched.errors.append(m.text))
        page.on("pageerror", lambda e: watched.errors.append(f"uncaught: {e}"))
        return page, watched

    yield opener
    for context in contexts:
        context.close()


def schema_operations(server: str) -> int:
    """How many operations the served OpenAPI schema declares."""
    status, body = get(server + "/api/schema/?format=json")
    assert status == 200
    methods = {"get", "put", "post", "patch", "delete", "head", "options", "trace"}
    return sum(len(methods & set(item)) for item in json.loads(body)["paths"].values())


def test_swagger_ui_renders_the_operations_with_nothing_from_outside(server, open_page):
    page, watched = open_page()
    response = page.goto(server + "/api/docs/")

    create = page.locator("#operations-v1-v1_payments_create")
    expect(create.locator(".opblock-summary-method")).to_have_text("POST", timeout=WAIT_MS)
    expect(create.locator(".opblock-summary-path")).to_have_text("/api/v1/payments/")
    expect(create).to_contain_text("Make a payment")
    # every operation of the schema, no more, no fewer
    expect(page.locator(".opblock")).to_have_count(schema_operations(server))
    # an operation opens (its parameters and responses render) without a new error
    create.locator(".opblock-summary").click()
    expect(create.locator(".responses-wrapper")).to_contain_text("201")
    page.wait_for_load_state("networkidle", timeout=WAIT_MS)

    assert watched.errors == []
    assert watched.outside == []
    # under the site's own policy: nothing inline
    policy = directives(response.headers["content-security-policy"])
    assert policy["script-src"] == policy["style-src"] == ["'self'"]


def test_redoc_renders_the_operations_with_nothing_from_outside(server, open_page):
    page, watched = open_page()
    response = page.goto(server + "/api/redoc/")

    failed = page.get_by_text("Something went wrong")
    heading = page.get_by_role("heading", name="Make a payment (authorize, and capture")
    expect(heading.or_(failed).first).to_be_visible(timeout=WAIT_MS)
    expect(failed).to_have_count(0)
    expect(page.get_by_role("heading", name="Payments hub merchant API")).to_be_visible()
    # the request sample panel beside the operation: its verb and path
    endpoint = page.locator("[id='operation/v1_payments_create']")
    expect(endpoint).to_contain_text("post")
    expect(endpoint).to_contain_text("/api/v1/payments/")
    # ReDoc's own styles were applied (styled-components' <style> elements, under the CSP)
    expect(page.locator(".menu-content")).to_have_css("position", "sticky")
    page.wait_for_load_state("networkidle", timeout=WAIT_MS)

    assert watched.errors == []
    assert watched.outside == []
    # no inline script; ReDoc's styles by this response's nonce and by hash, not 'unsafe-inline'
    policy = directives(response.headers["content-security-policy"])
    assert policy["script-src"] == ["'self'"]
    assert [re.sub(r"-.*", "-", source) for source in policy["style-src"]] == [
        "'self'",
        "'nonce-",
        "'sha256-",
        "'sha256-",
    ]
