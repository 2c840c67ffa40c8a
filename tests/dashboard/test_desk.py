"""The desk as operators, clerks and approvers live in it (issue 22): one page of what
waits for me, a menu that says where I am and how much waits, one way to write amounts."""

from __future__ import annotations

import re

import pytest
from django.template import Context, Template
from django.test import Client
from django.urls import reverse

from accounts.identity import roles
from payments.models import BackOfficeAction
from tests.backoffice.conftest import World
from tests.dashboard.test_batches_pages import Desk, client_of
from tests.helpers import make_operator, otp_login, signed

pytestmark = pytest.mark.django_db


def current_menu_items(page: str) -> list[str]:
    nav = page[page.index('<nav class="site-nav"') : page.index("</nav>")]
    return re.findall(r'<a href="[^"]*"[^>]*aria-current="page"[^>]*>([A-Za-z]+)', nav)


def test_approvals_lists_the_batches_waiting_for_the_checker_with_a_count_in_the_menu(desk: Desk):
    batch = desk.awaiting("10.00")

    page = client_of(desk.checker).get("/approvals/").content.decode()

    assert "Nothing waits" not in page.split('id="batches-waiting"')[0].split("</h1>")[1]
    waiting = page.split('id="batches-waiting"')[1].split("</table>")[0]
    assert f'href="/batches/{batch.pk}/"' in waiting and "Payroll Co" in waiting
    assert current_menu_items(page) == ["Approvals"]
    assert re.search(r'id="waiting-count"[^>]*>1<', page)


def test_the_old_queue_address_leads_to_approvals_and_one_menu_item_is_current(desk: Desk):
    checker = client_of(desk.checker)

    assert checker.get("/payments/actions/")["Location"] == "/approvals/"
    for path, section in (
        ("/", "Home"),
        ("/batches/", "Batches"),
        ("/payments/", "Payments"),
        ("/ledger/accounts/", "Accounts"),
        ("/approvals/", "Approvals"),
    ):
        assert current_menu_items(checker.get(path).content.decode()) == [section], path


def test_the_menu_count_is_only_what_i_may_decide(desk: Desk):
    desk.awaiting("10.00")

    for_maker = client_of(desk.maker).get("/").content.decode()  # the uploader, no approver
    for_clerk = client_of(desk.clerk).get("/").content.decode()

    assert 'id="waiting-count"' not in for_maker and 'id="waiting-count"' not in for_clerk
    assert "Approving batches" not in for_maker


def test_approvals_lists_back_office_actions_asked_by_others_with_their_decision(world: World):
    asker, checker = Client(), Client()
    asker_user = make_operator(roles.OPERATOR, roles.APPROVER, username="asker")
    otp_login(asker, asker_user)
    otp_login(checker, make_operator(roles.OPERATOR, roles.APPROVER, username="checker"))
    asker.post(
        reverse("payments:action", args=[world.authorized.pk]),
        signed(asker_user, kind="void", reason="duplicate authorization"),
    )
    action = BackOfficeAction.objects.get(status=BackOfficeAction.Status.PENDING)

    for_checker = checker.get("/approvals/").content.decode()
    for_asker = asker.get("/approvals/").content.decode()

    mine = for_checker.split('id="pending-actions"')[1].split("</table>")[0]
    assert "duplicate authorization" in mine and "7,654.32 EUR" in mine
    assert reverse("payments:action_decision", args=[action.pk]) in mine
    # the world's batch awaiting approval, and this action
    assert re.search(r'id="waiting-count"[^>]*>2<', for_checker)
    assert 'id="pending-actions"' not in for_asker
    assert "waits for another approver" in for_asker.split('id="pending-others"')[1]


def test_the_amount_filter_writes_amounts_like_the_rest_of_the_site():
    template = Template(
        "{% load dashboard %}{{ a|amount:'USD' }}|{{ b|amount:'JPY' }}|{{ c|amount:'USD' }}"
    )
    text = template.render(Context({"a": 120_000, "b": 1_234_567, "c": None}))
    assert text == "1,200.00 USD|1,234,567 JPY|—"


def test_a_back_office_refund_says_its_amount_grouped(world: World, settings):
    settings.BACKOFFICE_SECOND_APPROVAL_ABOVE = 1_000_000
    clerk = Client()
    clerk_user = make_operator(roles.OPERATOR, roles.APPROVER, username="clerk")
    otp_login(clerk, clerk_user)

    response = clerk.post(
        reverse("payments:action", args=[world.paid.pk]),
        signed(clerk_user, kind="refund", amount="1200.00", reason="goodwill"),
        follow=True,
    )

    messages = [str(m) for m in response.context["messages"]]
    assert any("1,200.00 EUR back to the debtor" in m for m in messages), messages
    assert not any("1200.00" in m for m in messages)
    too_much = clerk.post(
        reverse("payments:action", args=[world.paid.pk]),
        signed(clerk_user, kind="refund", amount="99999.00", reason="goodwill"),
        follow=True,
    )
    refusal = " ".join(str(m) for m in too_much.context["messages"])
    assert "99,999.00 EUR is more than the 9,145.67 EUR left to refund" in refusal


# --- point 1: a pain.001 names its own debtor ----------------------------------------------


def test_a_pain001_uploads_without_a_debtor_account_chosen(desk: Desk):
    from django.core.files.uploadedfile import SimpleUploadedFile

    from batches.models import Batch
    from tests.batches.test_statements import pain001_two_blocks

    maker = client_of(desk.maker)
    form = maker.get("/batches/upload/").content.decode()
    select = form[form.index('<select name="debtor_account"') :].split(">")[0]
    assert "required" not in select  # the browser lets it be empty
    content = pain001_two_blocks(desk.account.number, [p.number for p in desk.payees[:3]])

    response = maker.post(
        "/batches/upload/",
        {"file": SimpleUploadedFile("payroll.xml", content), "debtor_account": ""},
    )

    batch = Batch.objects.get()
    assert response["Location"] == f"/batches/{batch.pk}/"
    assert batch.merchant == desk.merchant and batch.debtor_account is None


def test_a_pain001_whose_debtor_is_no_merchants_account_is_refused_saying_so(desk: Desk):
    from django.core.files.uploadedfile import SimpleUploadedFile

    from batches.models import Batch
    from tests.batches.test_statements import pain001_two_blocks

    content = pain001_two_blocks("NOTOURS0001", [p.number for p in desk.payees[:3]])
    page = client_of(desk.maker).post(
        "/batches/upload/", {"file": SimpleUploadedFile("x.xml", content), "debtor_account": ""}
    )

    assert page.status_code == 200
    assert "pays from &#x27;NOTOURS0001&#x27;, which is no merchant" in page.content.decode()
    assert not Batch.objects.exists()


# --- points 4 and 8: a batch page that fits a laptop and says what happened ----------------


def table_of(page: str, table_id: str) -> tuple[list[str], list[list[str]]]:
    table = page.split(f'id="{table_id}"')[1].split("</table>")[0]
    headers = [re.sub(r"<[^>]+>", "", h).strip() for h in re.findall(r"<th[^>]*>(.*?)</th>", table)]
    rows = [
        [
            re.sub(r"<[^>]+>|\s+", " ", cell).strip()
            for cell in re.findall(r"<td[^>]*>(.*?)</td>", tr, re.S)
        ]
        for tr in re.findall(r'<tr class="row-item[^"]*">(.*?)</tr>', table, re.S)
    ]
    return headers, rows


def test_a_csv_batch_shows_no_empty_columns_and_its_invalid_rows_first(desk: Desk):
    batch = desk.awaiting("10.00", "20.50")

    page = client_of(desk.checker).get(f"/batches/{batch.pk}/").content.decode()

    headers, rows = table_of(page, "rows")
    assert headers == ["Row", "Creditor", "Amount", "Reference", "End-to-end id", "Flags"]
    for column, name in enumerate(headers[:-1]):
        assert any(row[column] not in ("", "—") for row in rows), f"{name} is empty"
    assert rows[0][2] == "10.00 EUR"
    assert page.index('id="not-paid-heading"') < page.index('id="rows-heading"')
    assert "NOSUCHACCOUNT" in page.split('id="not-paid"')[1].split("</table>")[0]


def test_a_pain001_batch_shows_its_blocks_and_debtors(desk: Desk):
    from tests.batches.test_statements import pain001_two_blocks

    batch = desk.upload(
        pain001_two_blocks(desk.account.number, [p.number for p in desk.payees[:3]]),
        name="two-blocks.xml",
    )

    page = client_of(desk.checker).get(f"/batches/{batch.pk}/").content.decode()

    headers, rows = table_of(page, "rows")
    assert "PmtInfId / InstrId" in headers and "End-to-end id / UETR" in headers
    assert "Creditor agent" not in headers and "Ultimate debtor / creditor" not in headers
    assert rows[0][1].startswith("PAY-A")


def test_the_flags_are_counted_and_explained_above_the_rows(desk: Desk):
    amounts = [f"{300 + i}.00" for i in range(9)] + ["4000.00"]
    batch = desk.awaiting(*amounts)

    page = client_of(desk.checker).get(f"/batches/{batch.pk}/").content.decode()

    legend = page.split('id="flag-legend"')[1].split("</dl>")[0]
    assert re.search(r'id="legend-largest">1 row<', legend)
    assert "more than 3 times the median" in legend
    assert "never paid this creditor" in legend and "end-to-end id" in legend
    assert legend.index("legend-largest") < page.split('id="flag-legend"')[1].index('id="rows"')


def test_completed_with_errors_says_the_invalid_rows_were_never_paid(desk: Desk):
    from accounts.identity.audit import Actor
    from batches import services
    from tests.helpers import fresh_code

    batch = desk.awaiting("10.00", "20.50")
    services.batch_approve(
        batch_id=batch.pk,
        approver=desk.checker,
        actor=Actor.for_user(desk.checker),
        otp_token=fresh_code(desk.checker),
    )
    services.batch_execute(batch_id=batch.pk)

    page = client_of(desk.checker).get(f"/batches/{batch.pk}/").content.decode()

    text = re.sub(r"<[^>]+>|\s+", " ", page.split('id="progress-text"')[1].split("</p>")[0])
    assert "2 of 2 valid rows done: 2 paid, 0 failed" in text
    assert "1 invalid row of the file was never paid" in text
    assert "Completed with errors" in text and "the invalid rows" in text
    headers, _rows = table_of(page, "rows")
    assert "Status" in headers  # once executed, each row's outcome


def test_a_refused_duplicate_file_asks_for_no_approval_and_lists_no_total(desk: Desk):
    first = desk.awaiting("10.00")
    content = first.file.open("rb").read()
    first.file.close()
    again = desk.upload(content.replace(b"\n", b"\r\n"), name="again.csv")  # same payments
    assert again.status == "invalid" and again.error_code == "DUPL"
    checker = client_of(desk.checker)

    page = checker.get(f"/batches/{again.pk}/").content.decode()
    listing = checker.get("/batches/").content.decode()

    assert "0 of 1" not in page and "No decision yet" not in page
    assert "Nothing to approve: the file was refused (DUPL)" in page
    row = next(tr for tr in listing.split("<tr>") if "again.csv" in tr)
    assert "0.00 EUR" not in row and "0 / 1" not in row


def test_a_long_msgid_stays_on_one_line_in_the_list(desk: Desk):
    from batches.models import Batch

    batch = desk.awaiting("10.00")
    Batch.objects.filter(pk=batch.pk).update(message_id="PAYROLL-2026-12-07-BATCH-000123-EUR")

    listing = client_of(desk.checker).get("/batches/").content.decode()

    assert 'class="msgid" title="PAYROLL-2026-12-07-BATCH-000123-EUR"' in listing
    css = open("static/css/dashboard.css").read()
    assert re.search(r"code\.msgid \{[^}]*white-space: nowrap", css)


# --- point 10: pages that are not crowded, and say only what applies ------------------------


def test_the_admins_payment_list_shows_short_ids_and_keeps_every_column(world: World, admin_client):
    page = admin_client.get("/admin/payments/payment/").content.decode()

    headers = re.findall(r'<th scope="col"[^>]*>.*?<(?:a|span)[^>]*>([^<]+)</', page, re.S)
    assert [h.strip().lower() for h in headers][-3:] == ["status", "reference", "failure code"]
    full = str(world.paid.pk)
    assert f'title="{full}">{full[:8]}…</code>' in page
    assert f">{full}<" not in page  # never the whole id as a cell's text


def test_a_hold_is_shown_by_its_amount_and_account_number(world: World):
    hold = world.authorized.hold
    assert str(hold) == f"7,654.32 EUR held on {world.debtor.number} (active)"


def test_a_refunded_payment_shows_no_authorization_expiry(
    world: World, operator_client, admin_client
):
    refunded = operator_client.get(reverse("payments:detail", args=[world.paid.pk])).content
    authorized = operator_client.get(reverse("payments:detail", args=[world.authorized.pk])).content
    admin_refunded = admin_client.get(f"/admin/payments/payment/{world.paid.pk}/change/").content

    assert b"Authorization expires" not in refunded and b'id="expires-at"' not in refunded
    assert b"Authorization expires" in authorized
    assert b"Expires at" not in admin_refunded


def test_the_statement_csvs_balance_rows_have_every_column(desk: Desk):
    import csv
    import io

    from django.utils import timezone

    from statements import exports, selectors

    span = selectors.Period(timezone.localdate(), timezone.localdate())
    text = "".join(exports.statement_csv(account=desk.account, span=span))
    rows = list(csv.reader(io.StringIO(text)))

    assert rows[0] == exports.CSV_COLUMNS
    assert {len(row) for row in rows} == {len(exports.CSV_COLUMNS)}
    opening = dict(zip(rows[0], rows[1], strict=True))
    assert opening["type"] == "OPBD" and opening["kind"] == "balance"
    closing = dict(zip(rows[0], rows[-2], strict=True))
    assert closing["type"] == "CLBD" and closing["balance_after"] == "50000.00"


def test_a_batch_the_checker_already_decided_no_longer_waits_for_them(desk: Desk):
    from accounts.identity.models import Decision
    from batches import selectors

    first, second = desk.awaiting("10.00"), desk.awaiting("11.00")
    assert list(selectors.waiting_for(user=desk.checker)) == [first, second]
    Decision.objects.create(
        kind="batch",
        subject_type="batches.batch",
        subject_id=str(first.pk),
        verdict=Decision.Verdict.APPROVE,
        person=desk.checker.person,
        user=desk.checker,
        otp_time_step=1,
    )

    assert list(selectors.waiting_for(user=desk.checker)) == [second]
