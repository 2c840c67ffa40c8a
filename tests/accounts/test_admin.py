"""The back office: money is read-only; account status changes through actions."""

from __future__ import annotations

import pytest
from django.urls import reverse

from accounts.models import Account, AuditEvent, LedgerEntry
from tests.factories import UserFactory
from tests.helpers import otp_login

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(client):
    """A superuser through both factors: the admin answers nobody on a password alone."""
    user = UserFactory(is_staff=True, is_superuser=True)
    otp_login(client, user)
    return client


def test_every_admin_list_opens_and_searches(admin_client, funded_account):
    for model in [
        "account",
        "merchant",
        "ledgertransaction",
        "ledgerentry",
        "hold",
        "auditevent",
        "user",
    ]:
        url = reverse(f"admin:accounts_{model}_changelist")
        assert admin_client.get(url).status_code == 200
        assert admin_client.get(url, {"q": funded_account.number}).status_code == 200


def test_account_search_finds_by_number(admin_client, funded_account):
    response = admin_client.get(
        reverse("admin:accounts_account_changelist"), {"q": funded_account.number}
    )
    assert funded_account.number in response.content.decode()


def test_balance_cannot_be_edited_in_the_admin(admin_client, funded_account):
    url = reverse("admin:accounts_account_change", args=[funded_account.pk])
    page = admin_client.get(url).content.decode()
    assert 'name="balance"' not in page and 'name="held"' not in page

    admin_client.post(
        url, {"name": "Renamed", "balance": "999999999", "held": "0", "status": "active"}
    )

    funded_account.refresh_from_db()
    assert funded_account.balance == 100_000
    assert funded_account.name == "Renamed"
    event = AuditEvent.objects.get(action="account.rename")
    assert event.after == {"name": "Renamed"}


def test_ledger_entries_cannot_be_added_changed_or_deleted(admin_client, funded_account):
    entry = LedgerEntry.objects.filter(account=funded_account).first()
    assert admin_client.get(reverse("admin:accounts_ledgerentry_add")).status_code == 403
    assert (
        admin_client.post(
            reverse("admin:accounts_ledgerentry_delete", args=[entry.pk]), {"post": "yes"}
        ).status_code
        == 403
    )
    assert LedgerEntry.objects.filter(pk=entry.pk).exists()
    assert admin_client.get(reverse("admin:accounts_account_add")).status_code == 403


def test_freeze_action_goes_through_the_service_and_is_audited(admin_client, funded_account):
    response = admin_client.post(
        reverse("admin:accounts_account_changelist"),
        {"action": "froze_accounts", "_selected_action": [str(funded_account.pk)]},
        REMOTE_ADDR="10.1.2.3",
    )
    assert response.status_code == 302
    funded_account.refresh_from_db()
    assert funded_account.status == Account.Status.FROZEN
    event = AuditEvent.objects.get(action="account.freeze")
    assert event.ip == "10.1.2.3"
    assert event.before["status"] == "active" and event.after["status"] == "frozen"


def test_closing_an_account_with_money_is_refused(admin_client, funded_account):
    admin_client.post(
        reverse("admin:accounts_account_changelist"),
        {"action": "closed_accounts", "_selected_action": [str(funded_account.pk)]},
    )
    funded_account.refresh_from_db()
    assert funded_account.status == Account.Status.ACTIVE
