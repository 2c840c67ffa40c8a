"""The batch pages of the dashboard: list, upload, one batch, its decisions, progress, reports.

Decisions go through the services, so the four-eyes rules hold whatever a page
showed: a forged POST is refused and changes nothing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta
from itertools import count

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.utils import timezone

from accounts.identity import roles
from accounts.identity.audit import Actor
from accounts.models import Account, AuditEvent, Merchant, User
from batches import services, views
from batches.models import Approval, Batch
from tests.dashboard.test_access import inline_code
from tests.factories import AccountFactory, MerchantFactory, UserFactory, fund
from tests.helpers import fresh_code, grant, make_operator, otp_login, signed, totp_device

pytestmark = pytest.mark.django_db

HEADER = "creditor_account,amount,currency,reference,end_to_end_id"
_files = count(1)


@dataclass
class Desk:
    merchant: Merchant
    account: Account
    payees: list[Account]
    maker: User
    checker: User
    checker2: User
    clerk: User  # operator, not an approver

    def csv(self, *rows: tuple) -> bytes:
        lines = [HEADER] + [",".join(str(cell) for cell in row) for row in rows]
        return ("\n".join(lines) + "\n").encode()

    def upload(self, content: bytes, name: str = "payouts.csv", **kwargs) -> Batch:
        """A batch uploaded by the maker and validated (the worker's job, run here)."""
        batch = services.batch_upload(
            merchant=self.merchant,
            upload=SimpleUploadedFile(name, content),
            debtor_account_number=self.account.number,
            actor=Actor.for_user(self.maker),
            uploaded_by=self.maker,
            **kwargs,
        )
        return services.batch_validate(batch_id=batch.pk)

    def awaiting(self, *amounts: str) -> Batch:
        """A validated batch paying `amounts` (EUR) to the payees, plus one invalid row."""
        run = next(_files)  # each file differs: the same file twice is a duplicate
        rows = [
            (self.payees[i % len(self.payees)].number, amount, "EUR", f"pay {run}-{i}", f"E2E-{i}")
            for i, amount in enumerate(amounts or ("10.00", "20.50"))
        ]
        rows.append(("NOSUCHACCOUNT", "5.00", "EUR", "lost", "E2E-X"))
        batch = self.upload(self.csv(*rows))
        assert batch.status == Batch.Status.AWAITING_APPROVAL
        return batch


@pytest.fixture
def desk(db) -> Desk:
    merchant = MerchantFactory(name="Payroll Co")
    account = AccountFactory(
        merchant=merchant, currency="EUR", number="PAYROLL0001", name="Payroll main"
    )
    fund(account, 5_000_000)  # 50,000.00 EUR
    payees = [
        AccountFactory(merchant=None, currency="EUR", number=f"PAYEE{i:04d}") for i in range(3)
    ]
    return Desk(
        merchant=merchant,
        account=account,
        payees=payees,
        maker=make_operator(roles.OPERATOR, username="maker"),
        checker=make_operator(roles.OPERATOR, roles.APPROVER, username="checker"),
        checker2=make_operator(roles.OPERATOR, roles.APPROVER, username="checker2"),
        clerk=make_operator(roles.OPERATOR, username="clerk"),
    )


def client_of(user: User) -> Client:
    client = Client()
    otp_login(client, user)
    return client


def messages_of(response) -> list[str]:
    return [str(message) for message in response.context["messages"]]


# --- list ---------------------------------------------------------------------------------


def test_the_list_shows_batches_newest_first_with_totals_and_approvals(desk):
    older = desk.awaiting("10.00")
    newer = desk.awaiting("7.00", "8.00")

    page = client_of(desk.clerk).get("/batches/").content.decode()

    table = page.split('id="batches"')[1].split("</table>")[0]
    links = re.findall(r'href="/batches/([0-9a-f-]{36})/"', table)
    assert links == [str(newer.pk), str(older.pk)]
    assert "15.00 EUR" in table and "10.00 EUR" in table
    assert "Awaiting approval" in table
    assert "0 / 1" in table
    assert inline_code(page) == []


def test_the_list_filters_by_status_and_merchant(desk):
    waiting = desk.awaiting()
    cancelled = desk.awaiting("3.00")
    services.batch_cancel(batch_id=cancelled.pk, user=desk.maker, actor=Actor.for_user(desk.maker))
    other_merchant = MerchantFactory(name="Other Ltd")
    client = client_of(desk.clerk)

    by_status = client.get("/batches/", {"status": "cancelled"}).content.decode()
    by_merchant = client.get("/batches/", {"merchant": other_merchant.pk}).content.decode()
    by_ours = client.get("/batches/", {"merchant": desk.merchant.pk}).content.decode()

    assert str(cancelled.pk) in by_status and str(waiting.pk) not in by_status
    assert "No batches match" in by_merchant
    assert str(cancelled.pk) in by_ours and str(waiting.pk) in by_ours


def test_the_list_pages_by_keyset(desk, monkeypatch):
    monkeypatch.setattr(views, "PAGE_SIZE", 2)
    batches = [desk.awaiting(f"{i}.00") for i in range(1, 4)]
    client = client_of(desk.clerk)

    first = client.get("/batches/")
    cursor = first.context["page"].next_cursor
    second = client.get("/batches/", {"cursor": cursor})

    assert [b.pk for b in first.context["page"].items] == [batches[2].pk, batches[1].pk]
    assert [b.pk for b in second.context["page"].items] == [batches[0].pk]
    assert 'rel="next"' in first.content.decode()


# --- upload -------------------------------------------------------------------------------


def test_the_upload_form_offers_the_merchants_accounts_by_merchant_name(desk):
    AccountFactory(merchant=None, currency="EUR", number="NOBODYS")  # a customer's, no merchant

    page = client_of(desk.maker).get("/batches/upload/").content.decode()

    assert "Payroll Co — PAYROLL0001 (EUR)" in page
    assert "NOBODYS" not in page
    assert 'type="file"' in page and 'name="execution_date"' in page
    assert inline_code(page) == []


def test_an_upload_makes_a_batch_of_the_accounts_merchant_uploaded_by_the_operator(desk):
    client = client_of(desk.maker)
    tomorrow = timezone.localdate() + timedelta(days=1)

    response = client.post(
        "/batches/upload/",
        {
            "file": SimpleUploadedFile(
                "june.csv", desk.csv((desk.payees[0].number, "1.00", "EUR", "a", "E1"))
            ),
            "debtor_account": desk.account.pk,
            "execution_date": tomorrow.isoformat(),
        },
    )

    batch = Batch.objects.get()
    assert response.status_code == 302
    assert response["Location"] == f"/batches/{batch.pk}/"
    assert batch.merchant == desk.merchant
    assert batch.debtor_account == desk.account
    assert batch.uploaded_by == desk.maker
    assert batch.execution_date == tomorrow
    assert batch.file_name == "june.csv"
    page = client.get(response["Location"])
    assert any("june.csv is uploaded for Payroll Co" in m for m in messages_of(page))
    assert AuditEvent.objects.filter(action="batch.upload", actor=desk.maker).count() == 1


@pytest.mark.parametrize(
    "change, expected",
    [
        ({"file": None}, "Choose the file to upload."),
        ({"debtor_account": ""}, "Choose the account the batch pays from: a CSV file"),
        ({"execution_date": "2001-01-01"}, "is in the past"),
        ({"file": SimpleUploadedFile("empty.csv", b"")}, "The file is empty."),
    ],
)
def test_a_refused_upload_says_why_and_makes_nothing(desk, change, expected):
    data = {
        "file": SimpleUploadedFile(
            "ok.csv", desk.csv((desk.payees[0].number, "1.00", "EUR", "a", "E1"))
        ),
        "debtor_account": desk.account.pk,
        "execution_date": "",
    }
    data.update(change)
    data = {key: value for key, value in data.items() if value is not None}

    response = client_of(desk.maker).post("/batches/upload/", data)

    assert response.status_code == 200
    assert expected in response.content.decode()
    assert not Batch.objects.exists()
    assert not AuditEvent.objects.filter(action="batch.upload").exists()


def test_the_services_refusal_is_shown_and_makes_nothing(desk, settings):
    settings.BATCH_MAX_FILE_BYTES = 10  # stopped while streaming in, before the service's check

    response = client_of(desk.maker).post(
        "/batches/upload/",
        {
            "file": SimpleUploadedFile(
                "big.csv", desk.csv((desk.payees[0].number, "1.00", "EUR", "a", "E1"))
            ),
            "debtor_account": desk.account.pk,
        },
    )

    assert response.status_code == 413
    assert "the limit is" in response.content.decode()
    assert not Batch.objects.exists()


def test_a_file_uploaded_twice_becomes_an_invalid_batch_whose_page_says_so(desk):
    content = desk.csv((desk.payees[0].number, "1.00", "EUR", "a", "E1"))
    desk.upload(content)
    client = client_of(desk.maker)

    response = client.post(
        "/batches/upload/",
        {"file": SimpleUploadedFile("again.csv", content), "debtor_account": desk.account.pk},
        follow=True,
    )

    duplicate = Batch.objects.get(file_name="again.csv")
    assert duplicate.status == Batch.Status.INVALID
    page = response.content.decode()
    assert "DUPL" in page and "this file was uploaded before" in page
    assert any("refused" in m for m in messages_of(response))


def test_an_approver_without_the_operator_role_may_not_upload(desk):
    approver_only = make_operator(roles.APPROVER, username="approver-only")

    client = client_of(approver_only)

    assert client.get("/batches/upload/").status_code == 403
    assert "Upload a batch" not in client.get("/batches/").content.decode()


# --- one batch ----------------------------------------------------------------------------


def test_the_batch_page_shows_totals_counts_invalid_rows_and_reports(desk):
    batch = desk.awaiting("10.00", "20.50")

    response = client_of(desk.checker).get(f"/batches/{batch.pk}/")

    page = response.content.decode()
    assert response.status_code == 200
    assert "payouts.csv" in page and "CSV" in page
    assert re.search(r'id="valid-count">2<', page) and re.search(r'id="invalid-count">1<', page)
    assert "30.50 EUR" in page
    assert "PAYROLL0001" in page.split('id="debtor-totals"')[1]
    not_paid = page.split('id="not-paid"')[1].split("</table>")[0]
    assert "NOSUCHACCOUNT" in not_paid and "AC01" in not_paid
    assert "no account has number" in not_paid
    for link in ("report.csv", "report.xml", "failed.csv"):
        assert f'href="/batches/{batch.pk}/{link}"' in page
    assert "0 of 1" in page
    assert inline_code(page) == []
    # awaiting approval: nothing to poll, only Approve's confirmation (a static file)
    assert re.findall(r"<script[^>]*>", page) == [
        '<script src="/static/js/approve-confirm.js" defer>'
    ]


def test_only_an_approver_other_than_the_uploader_sees_the_decision_buttons(desk):
    batch = desk.awaiting()
    url = f"/batches/{batch.pk}/"

    for_checker = client_of(desk.checker).get(url).content.decode()
    for_maker = client_of(desk.maker).get(url).content.decode()
    for_clerk = client_of(desk.clerk).get(url).content.decode()

    assert ">Approve</button>" in for_checker and ">Reject</button>" in for_checker
    assert 'name="reason"' in for_checker and ">Cancel</button>" not in for_checker
    assert ">Approve</button>" not in for_maker and ">Reject</button>" not in for_maker
    assert ">Cancel</button>" in for_maker
    assert "You uploaded this batch" in for_maker
    assert ">Approve</button>" not in for_clerk
    assert "for the approver role" in for_clerk


def test_an_unknown_batch_is_not_found(desk):
    client = client_of(desk.clerk)
    assert client.get("/batches/00000000-0000-0000-0000-000000000000/").status_code == 404


# --- decisions ----------------------------------------------------------------------------


def test_an_approval_runs_the_batch_and_is_audited_with_the_address(desk):
    batch = desk.awaiting()
    client = client_of(desk.checker)

    response = client.post(
        f"/batches/{batch.pk}/approve/", signed(desk.checker), REMOTE_ADDR="203.0.113.7"
    )

    batch.refresh_from_db()
    assert response.status_code == 302 and response["Location"] == f"/batches/{batch.pk}/"
    assert batch.status == Batch.Status.EXECUTING
    approval = Approval.objects.get(batch=batch)
    assert (approval.approver, approval.ip) == (desk.checker, "203.0.113.7")
    assert approval.validated_sha256 == batch.validated_sha256
    event = AuditEvent.objects.get(action="batch.approve", target_id=str(batch.pk))
    assert (event.actor, event.actor_label, event.ip) == (desk.checker, "checker", "203.0.113.7")
    page = client.get(response["Location"])
    assert "Approved: the batch is being paid." in messages_of(page)
    assert ">Approve</button>" not in page.content.decode()


def test_a_forged_approval_by_the_uploader_is_refused_and_changes_nothing(desk):
    batch = desk.awaiting()
    # The maker is made an approver too: the rule is about the batch, not the role.
    grant(desk.maker, roles.APPROVER)

    response = client_of(desk.maker).post(f"/batches/{batch.pk}/approve/", signed(desk.maker))

    assert response.status_code == 403
    assert "you initiated this" in response.content.decode().lower()
    batch.refresh_from_db()
    assert batch.status == Batch.Status.AWAITING_APPROVAL
    assert not Approval.objects.exists()
    assert not AuditEvent.objects.filter(action="batch.approve").exists()


def test_a_non_approver_may_neither_approve_nor_reject(desk):
    batch = desk.awaiting()
    client = client_of(desk.clerk)

    approve = client.post(f"/batches/{batch.pk}/approve/", signed(desk.clerk))
    reject = client.post(f"/batches/{batch.pk}/reject/", signed(desk.clerk, reason="no"))

    assert approve.status_code == reject.status_code == 403
    batch.refresh_from_db()
    assert batch.status == Batch.Status.AWAITING_APPROVAL
    assert not Approval.objects.exists()


def test_a_second_decision_by_the_same_approver_is_refused(desk, settings):
    settings.BATCH_SECOND_APPROVAL_ABOVE = 1  # two approvals needed
    batch = desk.awaiting("10.00")
    client = client_of(desk.checker)

    first = client.post(f"/batches/{batch.pk}/approve/", signed(desk.checker), follow=True)
    second = client.post(f"/batches/{batch.pk}/approve/", signed(desk.checker), follow=True)
    reject = client.post(
        f"/batches/{batch.pk}/reject/", signed(desk.checker, reason="changed my mind"), follow=True
    )

    batch.refresh_from_db()
    assert batch.status == Batch.Status.AWAITING_APPROVAL
    assert Approval.objects.filter(batch=batch).count() == 1
    assert any("needs another approver" in m for m in messages_of(first))
    assert any("already approved" in m for m in messages_of(second))
    assert ">Approve</button>" not in second.content.decode()
    assert any("already approved" in m for m in messages_of(reject))
    assert not Approval.objects.filter(decision=Approval.Decision.REJECT).exists()

    # then a second approver completes it
    client_of(desk.checker2).post(f"/batches/{batch.pk}/approve/", signed(desk.checker2))
    batch.refresh_from_db()
    assert batch.status == Batch.Status.EXECUTING


def test_a_decision_on_a_batch_no_longer_awaiting_approval_is_refused(desk):
    batch = desk.awaiting()
    services.batch_cancel(batch_id=batch.pk, user=desk.maker, actor=Actor.for_user(desk.maker))

    response = client_of(desk.checker).post(
        f"/batches/{batch.pk}/approve/", signed(desk.checker), follow=True
    )

    assert any("cancelled, not awaiting approval" in m for m in messages_of(response))
    batch.refresh_from_db()
    assert batch.status == Batch.Status.CANCELLED
    assert not Approval.objects.exists()


def test_a_rejection_needs_a_reason(desk):
    batch = desk.awaiting()
    client = client_of(desk.checker)

    response = client.post(f"/batches/{batch.pk}/reject/", {"reason": "   "}, follow=True)

    batch.refresh_from_db()
    assert batch.status == Batch.Status.AWAITING_APPROVAL
    assert any("Say why the batch is rejected" in m for m in messages_of(response))
    assert not Approval.objects.exists()


def test_a_rejection_with_a_reason_is_recorded_and_audited(desk):
    batch = desk.awaiting()
    client = client_of(desk.checker)

    response = client.post(
        f"/batches/{batch.pk}/reject/",
        signed(desk.checker, reason="wrong month"),
        REMOTE_ADDR="198.51.100.4",
        follow=True,
    )

    batch.refresh_from_db()
    assert batch.status == Batch.Status.REJECTED
    assert batch.decision_reason == "wrong month"
    assert "Rejected: the batch will not be paid." in messages_of(response)
    assert "wrong month" in response.content.decode()
    event = AuditEvent.objects.get(action="batch.reject", target_id=str(batch.pk))
    assert (event.actor, event.ip, event.detail["reason"]) == (
        desk.checker,
        "198.51.100.4",
        "wrong month",
    )


def test_the_uploader_cancels_until_the_batch_is_approved(desk):
    batch = desk.awaiting()
    approved = desk.awaiting("4.00")
    services.batch_approve(
        batch_id=approved.pk,
        approver=desk.checker,
        actor=Actor.for_user(desk.checker),
        otp_token=fresh_code(desk.checker),
    )
    maker = client_of(desk.maker)

    by_other = client_of(desk.checker).post(f"/batches/{batch.pk}/cancel/")
    by_maker = maker.post(f"/batches/{batch.pk}/cancel/", REMOTE_ADDR="192.0.2.9", follow=True)
    too_late = maker.post(f"/batches/{approved.pk}/cancel/", follow=True)

    assert by_other.status_code == 403
    batch.refresh_from_db()
    approved.refresh_from_db()
    assert batch.status == Batch.Status.CANCELLED
    assert "Cancelled: the batch will not be paid." in messages_of(by_maker)
    assert AuditEvent.objects.get(action="batch.cancel").ip == "192.0.2.9"
    assert approved.status == Batch.Status.EXECUTING
    assert any("cannot be cancelled" in m for m in messages_of(too_late))


def test_decisions_are_posts_only(desk):
    batch = desk.awaiting()
    client = client_of(desk.checker)
    for action in ("approve", "reject", "cancel"):
        assert client.get(f"/batches/{batch.pk}/{action}/").status_code == 405


def test_an_anonymous_post_is_sent_to_the_login_page_and_changes_nothing(desk):
    batch = desk.awaiting()

    response = Client().post(f"/batches/{batch.pk}/approve/")

    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")
    batch.refresh_from_db()
    assert batch.status == Batch.Status.AWAITING_APPROVAL


def test_a_post_without_the_csrf_token_is_refused(desk):
    batch = desk.awaiting()
    client = client_of(desk.checker)
    client.handler.enforce_csrf_checks = True  # as a browser's request from another site

    response = client.post(f"/batches/{batch.pk}/approve/")

    assert response.status_code == 403
    batch.refresh_from_db()
    assert batch.status == Batch.Status.AWAITING_APPROVAL


# --- progress -----------------------------------------------------------------------------


def test_the_progress_of_an_uploaded_batch_polls(desk):
    batch = services.batch_upload(
        merchant=desk.merchant,
        upload=SimpleUploadedFile(
            "p.csv", desk.csv((desk.payees[0].number, "1.00", "EUR", "a", "E1"))
        ),
        debtor_account_number=desk.account.number,
        actor=Actor.for_user(desk.maker),
        uploaded_by=desk.maker,
    )
    client = client_of(desk.clerk)

    fragment = client.get(f"/batches/{batch.pk}/progress/").content.decode()
    page = client.get(f"/batches/{batch.pk}/").content.decode()

    assert fragment.lstrip().startswith("<section")
    assert "<html" not in fragment
    assert f'hx-get="/batches/{batch.pk}/progress/?shown=uploaded"' in fragment
    assert 'hx-trigger="every 1s"' in fragment and 'hx-swap="outerHTML"' in fragment
    assert "waiting for a worker" in fragment
    assert ">Refresh</a>" in fragment
    # the page loads htmx from this site's static files, never inline and never from a CDN
    assert re.search(r'<script src="/static/django_htmx/htmx-2\.min\.js" defer>', page)
    assert inline_code(page) == []
    assert "hx-get" in page and ">Refresh</a>" in page


def test_the_progress_of_an_executing_batch_is_a_bar_of_the_rows_done(desk):
    batch = desk.awaiting("1.00", "2.00", "3.00")
    Batch.objects.filter(pk=batch.pk).update(
        status=Batch.Status.EXECUTING, processed_count=1, succeeded_count=1
    )

    fragment = client_of(desk.clerk).get(f"/batches/{batch.pk}/progress/").content.decode()

    assert re.search(r'<progress id="progress-bar" value="1" max="3"', fragment)
    assert "33%" in fragment and "1 of 3 valid rows done" in fragment
    assert 'hx-trigger="every 1s"' in fragment
    assert inline_code(fragment) == []


def test_the_progress_of_a_finished_batch_stops_polling(desk):
    batch = desk.awaiting("1.00", "2.00")
    services.batch_approve(
        batch_id=batch.pk,
        approver=desk.checker,
        actor=Actor.for_user(desk.checker),
        otp_token=fresh_code(desk.checker),
    )
    services.batch_execute(batch_id=batch.pk)
    batch.refresh_from_db()
    assert batch.status == Batch.Status.COMPLETED_WITH_ERRORS  # the invalid row is not paid
    client = client_of(desk.clerk)

    fragment = client.get(f"/batches/{batch.pk}/progress/").content.decode()
    page = client.get(f"/batches/{batch.pk}/").content.decode()

    assert re.search(r'<progress id="progress-bar" value="2" max="2"', fragment)
    assert "100%" in fragment and "2 paid, 0 failed" in fragment
    assert "hx-get" not in fragment and "hx-trigger" not in fragment
    assert ">Refresh</a>" not in fragment
    assert "<script" not in page


def test_the_progress_tells_htmx_to_reload_the_page_when_the_status_changed(desk):
    batch = desk.awaiting()
    client = client_of(desk.clerk)
    url = f"/batches/{batch.pk}/progress/"

    changed = client.get(url, {"shown": "validating"}, HTTP_HX_REQUEST="true")
    same = client.get(url, {"shown": "awaiting_approval"}, HTTP_HX_REQUEST="true")

    assert changed["HX-Refresh"] == "true"
    assert "HX-Refresh" not in same


# --- reports ------------------------------------------------------------------------------


def test_an_operator_downloads_the_three_reports(desk):
    batch = desk.awaiting("10.00", "20.50")
    client = client_of(desk.clerk)

    report = client.get(f"/batches/{batch.pk}/report.csv")
    xml = client.get(f"/batches/{batch.pk}/report.xml")
    failed = client.get(f"/batches/{batch.pk}/failed.csv")

    report_text = b"".join(report.streaming_content).decode()
    assert report["Content-Type"].startswith("text/csv")
    assert f'filename="batch-{batch.pk}-report.csv"' in report["Content-Disposition"]
    assert report_text.splitlines()[0].startswith("row,creditor_account")
    assert len(report_text.strip().splitlines()) == 4
    assert "PAYEE0000" in report_text and "NOSUCHACCOUNT" in report_text
    assert b"pain.002" in b"".join(xml.streaming_content)
    failed_text = b"".join(failed.streaming_content).decode()
    assert failed_text.splitlines() == [
        "creditor_account,amount,currency,reference,creditor_name,end_to_end_id",
        "NOSUCHACCOUNT,5.00,EUR,lost,,E2E-X",
    ]
    assert AuditEvent.objects.filter(action="batch.report", actor=desk.clerk).count() == 3


def test_reports_are_for_operators_only(desk):
    batch = desk.awaiting()
    merchant_user = UserFactory(merchant=desk.merchant)
    merchant_client = client_of(merchant_user)
    for name in ("report.csv", "report.xml", "failed.csv"):
        url = f"/batches/{batch.pk}/{name}"
        anonymous = Client().get(url)
        assert anonymous.status_code == 302, url
        assert anonymous["Location"].startswith("/accounts/login/?next="), url
        assert merchant_client.get(url).status_code == 403, url


@pytest.mark.parametrize("path", ["", "upload/", "{id}/", "{id}/progress/"])
def test_the_pages_are_closed_to_anyone_but_the_staff(desk, path):
    batch = desk.awaiting()
    url = "/batches/" + path.format(id=batch.pk)
    password_only = Client()
    totp_device(desk.checker)
    password_only.force_login(desk.checker)

    assert Client().get(url)["Location"].startswith("/accounts/login/?next=")
    assert password_only.get(url)["Location"].startswith("/accounts/verify/?next=")
    assert client_of(UserFactory()).get(url).status_code == 403


# --- home ---------------------------------------------------------------------------------


def test_home_lists_the_batches_waiting_for_this_approver(desk):
    batch = desk.awaiting("10.00")
    decided = desk.awaiting("11.00")
    services.batch_reject(
        batch_id=decided.pk,
        approver=desk.checker2,
        reason="no",
        actor=Actor.for_user(desk.checker2),
        otp_token=fresh_code(desk.checker2),
    )

    for_checker = client_of(desk.checker).get("/").content.decode()
    for_maker_as_approver = client_of(desk.maker).get("/").content.decode()

    waiting = for_checker.split('id="batches-waiting"')[1].split("</table>")[0]
    assert "Batches waiting for your approval" in for_checker
    assert f'href="/batches/{batch.pk}/"' in waiting
    assert str(decided.pk) not in waiting
    assert "Payroll Co" in waiting and "10.00 EUR" in waiting
    # the maker is no approver: no such section
    assert "Batches waiting for your approval" not in for_maker_as_approver


def test_home_leaves_out_ones_own_batches_and_those_already_approved(desk, settings):
    settings.BATCH_SECOND_APPROVAL_ABOVE = 1
    batch = desk.awaiting("10.00")
    grant(desk.maker, roles.APPROVER)
    services.batch_approve(
        batch_id=batch.pk,
        approver=desk.checker,
        actor=Actor.for_user(desk.checker),
        otp_token=fresh_code(desk.checker),
    )

    for_maker = client_of(desk.maker).get("/").content.decode()
    for_checker = client_of(desk.checker).get("/").content.decode()
    for_checker2 = client_of(desk.checker2).get("/").content.decode()

    assert "Nothing waits for your approval." in for_maker
    assert "Nothing waits for your approval." in for_checker
    assert f'href="/batches/{batch.pk}/"' in for_checker2
    assert "1 / 2" in for_checker2


def roles_groups(*names: str):
    from django.contrib.auth.models import Group

    return [Group.objects.get_or_create(name=name)[0] for name in names]
