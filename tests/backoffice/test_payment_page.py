"""The payment's dashboard page: its story, and the back-office actions asked from it."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from accounts.identity import roles
from accounts.models import AuditEvent, LedgerTransaction
from payments.models import BackOfficeAction, Payment
from tests.backoffice.conftest import REFUNDED
from tests.helpers import make_operator, otp_login, signed

pytestmark = pytest.mark.django_db


def test_the_page_tells_the_story_with_times_actors_webhook_answers_and_ledger_links(client, world):
    staff = make_operator(roles.OPERATOR, username="desk", is_staff=True)
    otp_login(client, staff)

    html = client.get(reverse("payments:detail", args=[world.paid.pk])).content.decode()

    story = html[html.index('id="timeline"') : html.index("Back-office actions")]
    assert "Completed" in story and "Refunded" in story and "2,000.00 EUR — damaged" in story
    assert "Webhook payment." in story and "HTTP 500" in story
    txn = LedgerTransaction.objects.get(payment=world.paid)
    assert reverse("admin:accounts_ledgertransaction_change", args=[txn.pk]) in story
    assert story.index("Completed") < story.index("Refunded")  # oldest first


def test_a_refund_from_the_page_needs_a_reason_and_is_done_under_the_limit(
    operator_client, operator_user, world, settings
):
    settings.BACKOFFICE_SECOND_APPROVAL_ABOVE = 5000  # the payment's refunds together: 2,010.00
    url = reverse("payments:action", args=[world.paid.pk])

    refused = operator_client.post(url, {"kind": "refund", "amount": "10.00", "reason": ""})
    assert refused.status_code == 302
    assert not BackOfficeAction.objects.exists()

    operator_client.post(url, {"kind": "refund", "amount": "10.00", "reason": "no code"})
    assert not BackOfficeAction.objects.exists()  # every decision is signed
    operator_client.post(
        url, signed(operator_user, kind="refund", amount="10.00", reason="late delivery")
    )

    world.paid.refresh_from_db()
    assert world.paid.refunded_amount == REFUNDED + 1_000
    assert AuditEvent.objects.filter(action="payment.refund").exists()
    page = operator_client.get(reverse("payments:detail", args=[world.paid.pk])).content.decode()
    assert "late delivery" in page and "10.00 EUR" in page


def test_above_the_limit_the_asker_cannot_approve_and_another_approver_can(world):
    asker, checker = Client(), Client()
    asker_user = make_operator(roles.OPERATOR, roles.APPROVER, username="asker")
    checker_user = make_operator(roles.OPERATOR, roles.APPROVER, username="checker")
    otp_login(asker, asker_user)
    otp_login(checker, checker_user)
    asker.post(
        reverse("payments:action", args=[world.authorized.pk]),
        signed(asker_user, kind="void", reason="duplicate authorization"),
    )
    action = BackOfficeAction.objects.get()
    assert action.status == BackOfficeAction.Status.PENDING
    queue = asker.get(reverse("payments:actions")).content.decode()
    assert "duplicate authorization" in queue and "waits for another approver" in queue

    decide = reverse("payments:action_decision", args=[action.pk])
    asker.post(decide, signed(asker_user, decision="approve"))
    action.refresh_from_db()
    assert action.status == BackOfficeAction.Status.PENDING

    checker.post(decide, signed(checker_user, decision="approve"))
    action.refresh_from_db()
    assert action.status == BackOfficeAction.Status.DONE
    world.authorized.refresh_from_db()
    assert world.authorized.status == Payment.Status.VOIDED
