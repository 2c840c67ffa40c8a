"""The operator dashboard in a real browser: Debian's Chromium driven by Playwright, against
the real product (`python -m config.run`: gunicorn, an RQ worker, the embedded PostgreSQL and Redis).

Chromium is the system's (`CHROMIUM_PATH`, default /usr/bin/chromium); Playwright never
downloads a browser. Without that binary the tests skip. The screenshots go to a temporary
folder; `SCREENSHOTS_DIR=docs/screenshots` writes the README's (with tests/e2e/test_desk_tour.py).
"""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.e2e.launcher import (
    ROOT,
    free_port,
    fresh_data_dir,
    kill_leftovers,
    product_env,
    start_product,
    wait_for,
)

pytestmark = pytest.mark.e2e

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
VIEWPORT = {"width": 1280, "height": 800}
WAIT_MS = 30_000  # the longest a page may take to show what the worker did

if not Path(CHROMIUM).is_file():
    pytest.skip(
        f"no Chromium at {CHROMIUM} (apt-get install chromium, or set CHROMIUM_PATH)",
        allow_module_level=True,
    )
playwright_api = pytest.importorskip("playwright.sync_api", reason="pip install playwright")
expect = playwright_api.expect


@dataclass
class Server:
    """The product as `make run` starts it, in a data folder of its own."""

    base: str
    launcher: subprocess.Popen
    env: dict[str, str]
    users: dict[str, dict] = field(default_factory=dict)
    last_step: dict[str, int] = field(default_factory=dict)

    def url(self, path: str) -> str:
        return self.base + path

    def totp(self, username: str) -> str:
        """A code of the user's authenticator not used yet (RFC 6238, like django-otp's TOTP).

        The server takes each 30 s step once (sign-in, then each decision) and one step
        ahead of its clock: a second code within a step is the next step's, and a third
        waits for the clock.
        """
        from django_otp.oath import TOTP

        key = base64.b32decode(self.users[username]["totp_secret"])
        totp = TOTP(key, step=30, t0=0, digits=6)
        totp.time = time.time()
        step = max(totp.t(), self.last_step.get(username, -1) + 1)
        while step > totp.t() + 1:
            time.sleep(1)
            totp.time = time.time()
        totp.time = step * 30 + 1
        self.last_step[username] = step
        return f"{totp.token():06d}"

    def manage(self, *args: str) -> dict:
        """A management command in the server's data folder; its JSON last line."""
        done = subprocess.run(
            [sys.executable, "manage.py", *args],
            cwd=ROOT,
            env=self.env,
            capture_output=True,
            text=True,
            check=True,
        )
        return json.loads(done.stdout.strip().splitlines()[-1])

    @contextmanager
    def worker_paused(self) -> Iterator[None]:
        """The RQ worker stopped (SIGSTOP), so that a page shows a batch mid-way for sure."""
        pids = subprocess.run(
            ["pgrep", "-P", str(self.launcher.pid), "-f", "rqworker"],
            capture_output=True,
            text=True,
        ).stdout.split()
        assert len(pids) == 1, f"expected one RQ worker, found {pids}"
        pid = int(pids[0])
        os.kill(pid, signal.SIGSTOP)
        try:
            yield
        finally:
            os.kill(pid, signal.SIGCONT)


@pytest.fixture(scope="module")
def server() -> Iterator[Server]:
    data_dir = fresh_data_dir("browser")  # reachable by the embedded PostgreSQL's user
    port = free_port()
    env = product_env(data_dir, port, web_concurrency=2)
    launcher = start_product(env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        running = Server(base=f"http://127.0.0.1:{port}", launcher=launcher, env=env)
        wait_for(running.url("/healthz"), launcher)
        demo = running.manage("seed_demo")  # what the launcher seeded; prints the secrets
        running.users = {user["username"]: user for user in demo["users"]}
        yield running
    finally:
        if launcher.poll() is None:
            os.killpg(launcher.pid, signal.SIGINT)  # Ctrl-C, as a person stops `make run`
        try:
            launcher.wait(timeout=120)
        except subprocess.TimeoutExpired:
            launcher.kill()
        kill_leftovers(launcher, data_dir)
        shutil.rmtree(data_dir, ignore_errors=True)


@pytest.fixture(scope="module")
def browser():
    with playwright_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        yield chromium
        chromium.close()


class Sessions:
    """Browser contexts of logged-in users. Each user logs in once: a TOTP code is good
    once per 30 s step, so later contexts reuse the first one's cookies."""

    def __init__(self, server: Server, browser) -> None:
        self.server, self.browser = server, browser
        self.states: dict[str, dict] = {}
        self.contexts: list = []

    def context(self, username: str, *, javascript: bool = True, check_second_step: bool = False):
        state = self.states.get(username)
        context = self.browser.new_context(
            viewport=VIEWPORT, java_script_enabled=javascript, storage_state=state
        )
        context.set_default_timeout(WAIT_MS)
        self.contexts.append(context)
        if state is None:
            log_in(self.server, context.new_page(), username, check_second_step=check_second_step)
            self.states[username] = context.storage_state()
        return context

    def close(self) -> None:
        for context in self.contexts:
            context.close()


@pytest.fixture(scope="module")
def sessions(server, browser) -> Iterator[Sessions]:
    opened = Sessions(server, browser)
    yield opened
    opened.close()


@pytest.fixture
def screenshots_dir(tmp_path) -> Path:
    folder = Path(os.environ.get("SCREENSHOTS_DIR") or tmp_path)
    if not folder.is_absolute():
        folder = ROOT / folder
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def log_in(server: Server, page, username: str, *, check_second_step: bool = False) -> None:
    """Both factors, the way a person does: password, then the authenticator's code."""
    user = server.users[username]
    page.goto(server.url("/accounts/login/"))
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(user["password"])
    page.get_by_role("button", name="Log in").click()
    expect(page).to_have_url(re.compile(r"/accounts/verify/"))
    if check_second_step:
        # the password alone opens no dashboard page: back to the code
        page.goto(server.url("/batches/"))
        expect(page).to_have_url(re.compile(r"/accounts/verify/\?next=/batches/$"))
        expect(page.get_by_role("heading", name="Authenticator code")).to_be_visible()
    page.locator("input[name=otp_token]").fill(server.totp(username))
    page.get_by_role("button", name="Verify").click()
    expect(page.get_by_role("link", name="Batches")).to_be_visible()
    page.close()


def payouts_csv(*amounts: str) -> bytes:
    """A payroll file to the demo's customer accounts; unique, so never a duplicate file."""
    run = uuid.uuid4().hex[:8]
    lines = ["creditor_account,amount,currency,reference,creditor_name,end_to_end_id"]
    payees = [
        ("DEMOEUR1001", "Anna Schmidt"),
        ("DEMOEUR1002", "Bruno Rossi"),
        ("DEMOEUR1003", "Chloé Martin"),
        ("DEMOEUR1004", "Dmitri Ivanov"),
    ]
    for i, amount in enumerate(amounts):
        number, name = payees[i % len(payees)]
        lines.append(f"{number},{amount},EUR,Salary {run}-{i + 1},{name},E2E-{run}-{i + 1}")
    return ("\n".join(lines) + "\n").encode()


def upload(server: Server, page, name: str, content: bytes) -> str:
    """The maker's upload through /batches/upload/; returns the batch page's URL."""
    page.goto(server.url("/batches/upload/"))
    page.locator("input[name=file]").set_input_files(
        files=[{"name": name, "mimeType": "text/csv", "buffer": content}]
    )
    account = page.locator("select[name=debtor_account] option", has_text="DEMOEUR0001")
    page.locator("select[name=debtor_account]").select_option(account.get_attribute("value"))
    page.get_by_role("button", name="Upload").click()
    expect(page).to_have_url(re.compile(r"/batches/[0-9a-f-]{36}/$"))
    expect(page.locator(".messages")).to_contain_text(f"{name} is uploaded for Demo Shop Ltd")
    return page.url


def refresh_until(page, status: str, seconds: float = WAIT_MS / 1000) -> None:
    """Without JavaScript: follow the Refresh link (or reload) until the batch shows `status`."""
    badge = page.locator("#batch-status")
    deadline = time.monotonic() + seconds
    while badge.inner_text() != status:
        assert time.monotonic() < deadline, f"still {badge.inner_text()!r}, not {status!r}"
        time.sleep(0.25)
        refresh = page.get_by_role("link", name="Refresh")
        if refresh.count():
            refresh.click()
        else:
            page.reload()


def test_login_needs_the_password_then_the_authenticator_code(server, browser, sessions):
    anonymous = browser.new_context(viewport=VIEWPORT)
    try:
        page = anonymous.new_page()
        page.goto(server.url("/batches/"))
        expect(page).to_have_url(re.compile(r"/accounts/login/\?next=/batches/$"))
    finally:
        anonymous.close()

    # password, then a dashboard page (sent back to the code), then the code
    page = sessions.context("checker2", check_second_step=True).new_page()

    page.goto(server.url("/batches/"))
    expect(page.get_by_role("heading", name="Batches", exact=True)).to_be_visible()
    expect(page.locator(".session .who")).to_have_text("checker2")


def test_maker_uploads_checker_approves_the_worker_pays_and_the_report_downloads(
    server, sessions, screenshots_dir
):
    maker = sessions.context("maker").new_page()
    file_name = f"payroll-{uuid.uuid4().hex[:6]}.csv"
    console_errors: list[str] = []  # a CSP refusal (of htmx, say) shows up here
    maker.on("console", lambda m: m.type == "error" and console_errors.append(m.text))

    # the maker uploads (worker paused: the page surely starts at "Uploaded"); once the
    # worker has checked the rows, htmx's polling brings the page up to date by itself
    with server.worker_paused():
        batch_url = upload(server, maker, file_name, payouts_csv("1250.00", "980.50", "1130.25"))
        expect(maker.locator("#batch-status")).to_have_text("Uploaded")
        with maker.expect_response(re.compile(r"/progress/\?shown=uploaded$")):
            pass  # htmx polls the progress fragment
    expect(maker.locator("#batch-status")).to_have_text("Awaiting approval", timeout=WAIT_MS)
    expect(maker.locator("#valid-count")).to_have_text("3")
    expect(maker.get_by_role("button", name="Approve", exact=True)).to_have_count(0)
    expect(maker.get_by_role("button", name="Reject", exact=True)).to_have_count(0)
    expect(maker.locator("#why-no-decision")).to_contain_text("You uploaded this batch")

    # a forged approval with the maker's own session, CSRF token and code is refused
    token = maker.locator("#cancel-form input[name=csrfmiddlewaretoken]").get_attribute("value")
    forged = maker.request.post(
        batch_url + "approve/",
        form={"csrfmiddlewaretoken": token, "otp_token": server.totp("maker")},
        max_redirects=0,
    )
    assert forged.status == 403
    assert "Not allowed" in forged.text() and "Nothing was changed" in forged.text()
    maker.reload()
    expect(maker.locator("#batch-status")).to_have_text("Awaiting approval")
    expect(maker.locator("#approvals-count")).to_have_text("0 of 1")

    # the checker sees it waiting on Home and approves it
    checker = sessions.context("checker").new_page()
    checker.on("console", lambda m: m.type == "error" and console_errors.append(m.text))
    checker.goto(server.url("/"))
    waiting = checker.locator("#batches-waiting tr", has_text=file_name)
    expect(waiting).to_contain_text("3,360.75 EUR")
    checker.screenshot(path=str(screenshots_dir / "home.png"))
    waiting.get_by_role("link", name="Review").click()
    expect(checker).to_have_url(batch_url)

    # the checker sees every payee and amount, with the flags, before deciding
    rows = checker.locator("#rows tr.row-item")
    expect(rows).to_have_count(3)
    expect(rows.nth(0)).to_contain_text("DEMOEUR1001")
    expect(rows.nth(0)).to_contain_text("1,250.00")
    # three ordinary salaries: none stands out, so none is flagged "largest" (an outlier)
    expect(rows.nth(0).locator(".flag-largest")).to_have_count(0)
    expect(checker.locator("#flag-largest")).to_have_text("0")
    expect(checker.locator("#approval-rule")).to_contain_text("needs 1 approver")
    checker.get_by_label("Order").select_option("-amount")
    checker.get_by_role("button", name="Show").click()
    expect(checker.locator("#rows tr.row-item").nth(0)).to_contain_text("1,250.00")
    expect(checker.locator("#rows tr.row-item").nth(1)).to_contain_text("1,130.25")

    # a code, then Approve asks for a confirmation with the count and the total
    asked: list[str] = []

    def confirm(dialog) -> None:
        asked.append(dialog.message)
        dialog.accept()

    checker.once("dialog", confirm)
    with server.worker_paused():
        checker.locator("#approve-otp").fill(server.totp("checker"))
        checker.get_by_role("button", name="Approve", exact=True).click()
        expect(checker.locator(".messages")).to_contain_text("Approved: the batch is being paid.")
        assert asked and "Approve 3 payments for a total of 3,360.75 EUR" in asked[0]
        expect(checker.locator("#batch-status")).to_have_text("Executing")
        expect(checker.locator("#progress-bar")).to_have_attribute("value", "0")
        with checker.expect_response(re.compile(r"/progress/\?shown=executing$")):
            pass

    # the real worker pays every row; htmx follows the progress to the end
    expect(checker.locator("#batch-status")).to_have_text("Completed", timeout=WAIT_MS)
    bar = checker.locator("#progress-bar")
    expect(bar).to_have_attribute("value", "3")
    expect(bar).to_have_attribute("max", "3")
    expect(checker.locator("#progress-text")).to_contain_text("100%")
    expect(checker.locator("#progress-text")).to_contain_text("3 paid, 0 failed")
    expect(checker.locator("#approvals")).to_contain_text("checker")
    expect(checker.locator("#audit")).to_contain_text("batch.approve")
    checker.screenshot(path=str(screenshots_dir / "batch.png"))

    # the result report downloads and holds the rows
    with checker.expect_download() as download_info:
        checker.locator("#report-csv").click()
    download = download_info.value
    assert download.suggested_filename.endswith("-report.csv")
    report = Path(download.path()).read_text(encoding="utf-8").splitlines()
    assert report[0].startswith("row,creditor_account,creditor_name,amount")
    assert len(report) == 4
    assert all(",paid," in line for line in report[1:])
    assert "DEMOEUR1001" in report[1] and "1250.00" in report[1]

    assert console_errors == []
    for name in ("home.png", "batch.png"):
        png = (screenshots_dir / name).read_bytes()
        assert png[:8] == b"\x89PNG\r\n\x1a\n"
        assert (int.from_bytes(png[16:20], "big"), int.from_bytes(png[20:24], "big")) == (
            1280,
            800,
        )


def test_the_batch_page_works_without_javascript(server, sessions):
    maker = sessions.context("maker", javascript=False).new_page()
    checker = sessions.context("checker2", javascript=False).new_page()

    # uploaded while the worker is paused: the page shows where it is and a Refresh link
    with server.worker_paused():
        rejected_url = upload(server, maker, "nojs-reject.csv", payouts_csv("10.00"))
        expect(maker.locator("#batch-status")).to_have_text("Uploaded")
        expect(maker.locator("#progress-text")).to_contain_text("waiting for a worker")
        expect(maker.get_by_role("link", name="Refresh")).to_be_visible()
    refresh_until(maker, "Awaiting approval")

    # Reject asks for a reason: the browser does not send the form without one
    checker.goto(rejected_url)
    checker.get_by_role("button", name="Reject", exact=True).click()
    expect(checker.locator("#batch-status")).to_have_text("Awaiting approval")
    checker.get_by_label("Reason for rejecting").fill("wrong cost centre")
    checker.locator("#reject-otp").fill(server.totp("checker2"))
    checker.get_by_role("button", name="Reject", exact=True).click()
    expect(checker.locator("#batch-status")).to_have_text("Rejected")
    expect(checker.locator(".messages")).to_contain_text("Rejected")
    expect(checker.locator("#decision-reason")).to_have_text("wrong cost centre")

    # Approve with the worker paused: the page shows the execution at 0% and a Refresh link
    approved_url = upload(server, maker, "nojs-approve.csv", payouts_csv("20.00", "30.00"))
    refresh_until(maker, "Awaiting approval")
    checker.goto(approved_url)
    expect(checker.locator("#approve-summary")).to_contain_text("Approve 2 payments")
    with server.worker_paused():
        checker.locator("#approve-otp").fill(server.totp("checker2"))
        checker.get_by_role("button", name="Approve", exact=True).click()
        expect(checker.locator(".messages")).to_contain_text("Approved")
        expect(checker.locator("#batch-status")).to_have_text("Executing")
        expect(checker.locator("#progress-bar")).to_have_attribute("value", "0")
        expect(checker.locator("#progress-text")).to_contain_text("0 of 2 valid rows done")
        expect(checker.get_by_role("link", name="Refresh")).to_be_visible()
    refresh_until(checker, "Completed")
    expect(checker.locator("#progress-bar")).to_have_attribute("value", "2")
    expect(checker.locator("#progress-text")).to_contain_text("100%")
