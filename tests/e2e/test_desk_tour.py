"""A newcomer's path through the desk, end to end, in a real browser (issue 22): the maker
uploads a CSV and a pain.001 (its debtor taken from the file), the checker finds them in
Approvals, approves with a fresh code and watches the batch complete, downloads the
reports; the back office finds the payment by a fragment of its reference and refunds it
with four eyes. On the way, a screenshot at 1,280 x 800 of every page of the desk:
`SCREENSHOTS_DIR=docs/screenshots` writes the README's (docs/screenshots/README.md).
"""

from __future__ import annotations

import json
import re
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.e2e import test_browser as kit
from tests.e2e.test_browser import WAIT_MS, expect, upload

# The browser test's fixtures: one product, one browser and its sessions for this module.
server = kit.server
browser = kit.browser
sessions = kit.sessions
screenshots_dir = kit.screenshots_dir

pytestmark = pytest.mark.e2e

DEMO_KEY = "demokey1.payhub-demo-key-not-for-production"
PAGES = (
    "home.png",
    "batches.png",
    "upload.png",
    "batch-awaiting-10000.png",
    "batch-rows.png",
    "batch-completed.png",
    "account.png",
    "approvals.png",
    "admin-payments.png",
    "payment.png",
)


# The demo customers' names (seed_demo): Verification of Payee finds each a match, so the
# approvals of the tour need no confirmation of mismatches.
HOLDERS = {
    "DEMOEUR1001": "Anna Schmidt",
    "DEMOEUR1002": "Bruno Rossi",
    "DEMOEUR1003": "Chloé Martin",
    "DEMOEUR1004": "Dmitri Ivanov",
}


def pain001(run: str) -> bytes:
    """A pain.001.001.09 paying two demo customers from DEMOEUR0001, named in its PmtInf."""
    today = datetime.now(tz=UTC).date().isoformat()

    def tx(n: int, payee: str, amount: str) -> str:
        return (
            f"<CdtTrfTxInf><PmtId><InstrId>I-{run}-{n}</InstrId><EndToEndId>E-{run}-{n}"
            f'</EndToEndId></PmtId><Amt><InstdAmt Ccy="EUR">{amount}</InstdAmt></Amt>'
            f"<Cdtr><Nm>{HOLDERS[payee]}</Nm></Cdtr><CdtrAcct><Id><Othr><Id>{payee}</Id></Othr></Id>"
            f"</CdtrAcct><RmtInf><Ustrd>Invoice {run}-{n}</Ustrd></RmtInf></CdtTrfTxInf>"
        )

    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<Document xmlns="urn:iso:std:iso:20022:tech:xsd:pain.001.001.09"><CstmrCdtTrfInitn>'
        f"<GrpHdr><MsgId>TOUR-{run}</MsgId><CreDtTm>{today}T08:00:00</CreDtTm>"
        "<NbOfTxs>2</NbOfTxs><CtrlSum>350.50</CtrlSum><InitgPty><Nm>Demo Shop Ltd</Nm></InitgPty>"
        f"</GrpHdr><PmtInf><PmtInfId>TOUR-{run}-A</PmtInfId><PmtMtd>TRF</PmtMtd>"
        f"<NbOfTxs>2</NbOfTxs><ReqdExctnDt><Dt>{today}</Dt></ReqdExctnDt>"
        "<Dbtr><Nm>Demo Shop Ltd</Nm></Dbtr><DbtrAcct><Id><Othr><Id>DEMOEUR0001</Id></Othr>"
        "</Id></DbtrAcct><DbtrAgt><FinInstnId><BICFI>COBADEFFXXX</BICFI></FinInstnId></DbtrAgt>"
        f"{tx(1, 'DEMOEUR1003', '100.00')}{tx(2, 'DEMOEUR1004', '250.50')}"
        "</PmtInf></CstmrCdtTrfInitn></Document>"
    ).encode()


def salaries(run: str, *amounts: str) -> bytes:
    """A small payroll to the demo's customers, its references known: "Salary RUN-1"..."""
    payees = ["DEMOEUR1001", "DEMOEUR1002", "DEMOEUR1003"]
    lines = ["creditor_account,amount,currency,reference,creditor_name,end_to_end_id"]
    for i, amount in enumerate(amounts, start=1):
        payee = payees[i % 3]
        lines.append(f"{payee},{amount},EUR,Salary {run}-{i},{HOLDERS[payee]},S-{run}-{i}")
    return ("\n".join(lines) + "\n").encode()


def ten_thousand_rows(run: str) -> bytes:
    """A payroll of 10,000 rows, a few of them invalid and one standing out."""
    payees = ["DEMOEUR1001", "DEMOEUR1002", "DEMOEUR1003", "DEMOEUR1004"]
    lines = ["creditor_account,amount,currency,reference,creditor_name,end_to_end_id"]
    for i in range(1, 10_001):
        payee = "NOSUCHACCT" if i % 2500 == 0 else payees[i % 4]
        amount = "9800.00" if i == 4321 else f"{280 + i % 47}.{i % 100:02d}"
        name = HOLDERS.get(payee, f"Employee {i}")
        lines.append(f"{payee},{amount},EUR,Payroll {run} #{i},{name},P-{run}-{i}")
    return ("\n".join(lines) + "\n").encode()


def shot(page, folder: Path, name: str) -> None:
    assert name in PAGES
    page.screenshot(path=str(folder / name))


def test_a_newcomers_day_at_the_desk(server, sessions, screenshots_dir):
    run = uuid.uuid4().hex[:6]
    maker = sessions.context("maker").new_page()

    # the maker: a CSV with the account chosen, a pain.001 with none (the file names it)
    maker.goto(server.url("/batches/upload/"))
    shot(maker, screenshots_dir, "upload.png")
    csv_url = upload(
        server, maker, f"payroll-{run}.csv", salaries(run, "1250.00", "980.50", "1130.25")
    )
    maker.goto(server.url("/batches/upload/"))
    maker.locator("input[name=file]").set_input_files(
        files=[
            {"name": f"suppliers-{run}.xml", "mimeType": "application/xml", "buffer": pain001(run)}
        ]
    )
    expect(maker.locator("select[name=debtor_account]")).to_have_value("")
    maker.get_by_role("button", name="Upload").click()
    expect(maker.locator(".messages")).to_contain_text(
        f"suppliers-{run}.xml is uploaded for Demo Shop Ltd"
    )
    expect(maker.locator("#batch-status")).to_have_text("Awaiting approval", timeout=WAIT_MS)
    expect(maker.locator("#rows th", has_text="PmtInfId / InstrId")).to_be_visible()

    # a big payroll arrives through the API, as an ERP sends it
    answer = maker.request.post(
        server.url("/api/v1/batches/"),
        headers={"Authorization": f"Bearer {DEMO_KEY}", "Idempotency-Key": f"tour-{run}"},
        multipart={
            "file": {
                "name": f"payroll-10000-{run}.csv",
                "mimeType": "text/csv",
                "buffer": ten_thousand_rows(run),
            },
            "debtor_account": "DEMOEUR0001",
        },
    )
    assert answer.status == 201, answer.text()
    big_url = server.url(f"/batches/{json.loads(answer.text())['id']}/")

    # the checker: Approvals lists every batch waiting, with a count in the menu
    checker = sessions.context("checker").new_page()
    checker.goto(server.url("/approvals/"))
    waiting = checker.locator("#batches-waiting")
    expect(waiting).to_contain_text(f"payroll-{run}.csv")
    expect(waiting).to_contain_text(f"suppliers-{run}.xml")
    expect(checker.locator("#waiting-count")).to_be_visible()
    expect(checker.locator('.site-nav a[aria-current="page"]')).to_have_text(
        re.compile(r"^Approvals")
    )

    # the 10,000 rows: counted, the invalid ones first, the one that stands out flagged
    checker.goto(big_url)
    expect(checker.locator("#batch-status")).to_have_text("Awaiting approval", timeout=WAIT_MS)
    expect(checker.locator("#valid-count")).to_have_text("9996")
    expect(checker.locator("#flag-largest")).to_have_text("1")
    shot(checker, screenshots_dir, "batch-awaiting-10000.png")
    checker.locator("#not-paid-heading").scroll_into_view_if_needed()
    checker.locator("#rows-heading").evaluate("e => e.scrollIntoView()")
    expect(checker.locator("#flag-legend")).to_contain_text("more than 3 times the median")
    assert checker.evaluate("document.querySelector('#rows').scrollWidth") <= 1280 - 2 * 24
    shot(checker, screenshots_dir, "batch-rows.png")

    # approve the CSV batch with a fresh code; the worker pays it; the reports download
    checker.goto(csv_url)
    checker.once("dialog", lambda dialog: dialog.accept())
    checker.locator("#approve-otp").fill(server.totp("checker"))
    checker.get_by_role("button", name="Approve", exact=True).click()
    expect(checker.locator("#batch-status")).to_have_text("Completed", timeout=WAIT_MS)
    expect(checker.locator("#progress-text")).to_contain_text("3 paid, 0 failed")
    shot(checker, screenshots_dir, "batch-completed.png")
    for link, suffix in (("#report-csv", "-report.csv"), ("#report-xml", ".xml")):
        with checker.expect_download() as download:
            checker.locator(link).click()
        assert download.value.suggested_filename.endswith(suffix)
        assert Path(download.value.path()).stat().st_size > 0

    # the pages around it
    checker.goto(server.url("/"))
    shot(checker, screenshots_dir, "home.png")
    checker.goto(server.url("/batches/"))
    expect(checker.locator("#batches")).to_contain_text(f"suppliers-{run}.xml")
    shot(checker, screenshots_dir, "batches.png")
    checker.goto(csv_url)
    checker.locator("a", has_text="DEMOEUR0001").first.click()
    expect(checker.locator("h1")).to_contain_text("DEMOEUR0001")
    shot(checker, screenshots_dir, "account.png")

    # the back office finds the payment by a fragment of its reference, asks for a refund
    # above the second-approval limit, and another approver approves it
    checker.goto(server.url(f"/payments/?reference={run}-1"))
    found = checker.locator("#payments tbody tr")
    expect(found).to_have_count(1)
    found.locator("a.payment-link").click()
    expect(checker.locator("h1")).to_contain_text("Payment")
    shot(checker, screenshots_dir, "payment.png")
    checker.locator("#refund-amount").fill("1200.00")
    checker.locator("#refund-reason").fill("salary paid twice")
    checker.locator("#refund-otp").fill(server.totp("checker"))
    checker.get_by_role("button", name="Refund").click()
    expect(checker.locator(".messages")).to_contain_text("1,200.00 EUR")
    expect(checker.locator(".messages")).to_contain_text("waits for a second approver")
    payment_url = checker.url

    checker2 = sessions.context("checker2").new_page()
    checker2.goto(server.url("/approvals/"))
    pending = checker2.locator("#pending-actions tr", has_text="salary paid twice")
    expect(pending).to_contain_text("1,200.00 EUR")
    shot(checker2, screenshots_dir, "approvals.png")
    pending.locator("input[name=otp_token]").fill(server.totp("checker2"))
    pending.get_by_role("button", name="Approve").click()
    expect(checker2.locator(".messages")).to_contain_text("1,200.00 EUR back to the debtor")
    checker2.goto(payment_url)
    expect(checker2.locator("#timeline")).to_contain_text("Refunded")

    # the admin's payment list fits the laptop: short ids, Status to Failure on screen
    admin = sessions.context("admin").new_page()
    admin.goto(server.url("/admin/payments/payment/"))
    expect(admin.locator("#result_list")).to_be_visible()
    shot(admin, screenshots_dir, "admin-payments.png")
    widths = admin.evaluate(
        "() => { const box = document.querySelector('#result_list').parentElement;"
        " return [box.scrollWidth, box.clientWidth]; }"
    )
    assert widths[0] <= widths[1], f"the list is {widths[0]} px wide in {widths[1]} px"

    for name in PAGES:
        png = (screenshots_dir / name).read_bytes()
        assert png[:8] == b"\x89PNG\r\n\x1a\n", name
        size = (int.from_bytes(png[16:20], "big"), int.from_bytes(png[20:24], "big"))
        assert size == (1280, 800), name
