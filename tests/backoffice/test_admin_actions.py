"""Back-office actions from the admin: the payment page's links, a form asking the reason,
and approvals by someone else."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from accounts.identity import roles
from accounts.models import AuditEvent
from payments.models import BackOfficeAction, Payment
from tests.backoffice.conftest import REFUNDED
from tests.factories import UserFactory
from tests.helpers import grant, otp_login, signed

pytestmark = pytest.mark.django_db


@pytest.fixture
def clerk(db):
    return grant(UserFactory(username="backoffice", is_staff=True, is_superuser=True), roles.ADMIN)


@pytest.fixture
def superuser_client(client, clerk):
    otp_login(client, clerk)
    return client


def test_the_payment_page_offers_the_actions_and_tells_the_story(superuser_client, world):
    html = superuser_client.get(
        reverse("admin:payments_payment_change", args=[world.paid.pk])
    ).content.decode()
    assert reverse("admin:payments_payment_act", args=[world.paid.pk]) + "?kind=refund" in html
    assert "What happened" in html and "Refunded" in html
    html = superuser_client.get(
        reverse("admin:payments_payment_change", args=[world.authorized.pk])
    ).content.decode()
    assert "?kind=void" in html and "?kind=refund" not in html


def test_an_admin_refund_asks_a_reason_and_goes_through_the_service(
    superuser_client, clerk, world, settings
):
    settings.BACKOFFICE_SECOND_APPROVAL_ABOVE = 5000  # the payment's refunds together: 2,005.00
    url = reverse("admin:payments_payment_act", args=[world.paid.pk])
    assert superuser_client.get(url, {"kind": "refund"}).status_code == 200

    refused = superuser_client.post(url, {"kind": "refund", "amount": "5.00", "reason": " "})
    assert refused.status_code == 200 and "needs a reason" in refused.content.decode()
    assert not BackOfficeAction.objects.exists()

    unsigned = superuser_client.post(url, {"kind": "refund", "amount": "5.00", "reason": "ok"})
    assert unsigned.status_code == 200 and not BackOfficeAction.objects.exists()

    done = superuser_client.post(
        url, signed(clerk, kind="refund", amount="5.00", reason="goodwill")
    )

    assert done.status_code == 302
    world.paid.refresh_from_db()
    assert world.paid.refunded_amount == REFUNDED + 500
    assert AuditEvent.objects.get(action="payment.refund").actor_label == "backoffice"


def test_an_admin_approves_only_what_someone_else_asked(superuser_client, clerk, world):
    url = reverse("admin:payments_payment_act", args=[world.authorized.pk])
    superuser_client.post(url, signed(clerk, kind="void", reason="duplicate"))
    action = BackOfficeAction.objects.get()
    assert action.status == BackOfficeAction.Status.PENDING  # 7,654.32 EUR
    decide = reverse("payments:action_decision", args=[action.pk])

    # The asker, even once made an approver, may not decide; nor may a superuser without
    # the approver role; every decision is signed with a fresh code.
    grant(clerk, roles.APPROVER)
    superuser_client.post(decide, signed(clerk, decision="approve"))
    action.refresh_from_db()
    assert action.status == BackOfficeAction.Status.PENDING
    other = Client()
    root = UserFactory(username="second", is_staff=True, is_superuser=True)
    otp_login(other, root)
    other.post(decide, signed(root, decision="approve"))
    action.refresh_from_db()
    assert action.status == BackOfficeAction.Status.PENDING

    grant(root, roles.OPERATOR, roles.APPROVER)
    other.post(decide, {"decision": "approve"})  # no code: refused
    action.refresh_from_db()
    assert action.status == BackOfficeAction.Status.PENDING
    other.post(decide, signed(root, decision="approve"))
    action.refresh_from_db()
    assert action.status == BackOfficeAction.Status.DONE
    world.authorized.refresh_from_db()
    assert world.authorized.status == Payment.Status.VOIDED
