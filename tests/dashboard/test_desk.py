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
from tests.helpers import make_operator, otp_login

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
    otp_login(asker, make_operator(roles.OPERATOR, roles.APPROVER, username="asker"))
    otp_login(checker, make_operator(roles.OPERATOR, roles.APPROVER, username="checker"))
    asker.post(
        reverse("payments:action", args=[world.authorized.pk]),
        {"kind": "void", "reason": "duplicate authorization"},
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
    otp_login(clerk, make_operator(roles.OPERATOR, roles.APPROVER, username="clerk"))

    response = clerk.post(
        reverse("payments:action", args=[world.paid.pk]),
        {"kind": "refund", "amount": "1200.00", "reason": "goodwill"},
        follow=True,
    )

    messages = [str(m) for m in response.context["messages"]]
    assert any("1,200.00 EUR back to the debtor" in m for m in messages), messages
    assert not any("1200.00" in m for m in messages)
    too_much = clerk.post(
        reverse("payments:action", args=[world.paid.pk]),
        {"kind": "refund", "amount": "99999.00", "reason": "goodwill"},
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
