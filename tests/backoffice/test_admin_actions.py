"""Back-office actions from the admin: the payment page's links, a form asking the reason,
and approvals by someone else."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from accounts.models import AuditEvent
from payments.models import BackOfficeAction, Payment
from tests.backoffice.conftest import REFUNDED
from tests.factories import UserFactory
from tests.helpers import otp_login

pytestmark = pytest.mark.django_db


@pytest.fixture
def superuser_client(client, db):
    otp_login(client, UserFactory(username="backoffice", is_staff=True, is_superuser=True))
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


def test_an_admin_refund_asks_a_reason_and_goes_through_the_service(superuser_client, world):
    url = reverse("admin:payments_payment_act", args=[world.paid.pk])
    assert superuser_client.get(url, {"kind": "refund"}).status_code == 200

    refused = superuser_client.post(url, {"kind": "refund", "amount": "5.00", "reason": " "})
    assert refused.status_code == 200 and "needs a reason" in refused.content.decode()
    assert not BackOfficeAction.objects.exists()

    done = superuser_client.post(url, {"kind": "refund", "amount": "5.00", "reason": "goodwill"})

    assert done.status_code == 302
    world.paid.refresh_from_db()
    assert world.paid.refunded_amount == REFUNDED + 500
    assert AuditEvent.objects.get(action="payment.refund").actor_label == "backoffice"


def test_an_admin_approves_only_what_someone_else_asked(superuser_client, world):
    url = reverse("admin:payments_payment_act", args=[world.authorized.pk])
    superuser_client.post(url, {"kind": "void", "reason": "duplicate"})
    action = BackOfficeAction.objects.get()
    assert action.status == BackOfficeAction.Status.PENDING  # 7,654.32 EUR
    changelist = reverse("admin:payments_backofficeaction_changelist")
    approve = {"action": "approve_actions", "_selected_action": [str(action.pk)]}

    superuser_client.post(changelist, approve)
    action.refresh_from_db()
    assert action.status == BackOfficeAction.Status.PENDING

    other = Client()
    otp_login(other, UserFactory(username="second", is_staff=True, is_superuser=True))
    other.post(changelist, approve)
    action.refresh_from_db()
    assert action.status == BackOfficeAction.Status.DONE
    world.authorized.refresh_from_db()
    assert world.authorized.status == Payment.Status.VOIDED
