"""The account page's instant limits: staff ask for the merchant (signed), a higher limit
waits, the asker cannot confirm it, a second person confirms it (signed); the back office
confirms through the admin's Decide… form."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from accounts.identity import roles
from accounts.ledger import money
from accounts.models import Account, AuditEvent, InstantLimitChange, User
from tests.factories import AccountFactory, MerchantFactory, UserFactory
from tests.helpers import fresh_code, grant, make_operator, otp_login

pytestmark = pytest.mark.django_db


@pytest.fixture
def limited() -> Account:
    limited = AccountFactory(merchant=MerchantFactory(), currency="EUR")
    Account.objects.filter(pk=limited.pk).update(
        instant_limit_per_payment=5000, instant_limit_per_day=20000
    )
    return limited


def logged_in(user: User) -> Client:
    client = Client()
    otp_login(client, user)
    return client


def ask(client: Client, user: User, limited: Account, **values: str):
    url = reverse("ledger:instant_limits_request", args=[limited.pk])
    return client.post(url, {**values, "otp_token": fresh_code(user)}, follow=True)


def test_a_lower_limit_on_the_page_applies_at_once(limited):
    maker = make_operator(roles.OPERATOR, username="maker")

    page = ask(logged_in(maker), maker, limited, per_payment="20.00", per_day="200.00")

    limited.refresh_from_db()
    assert limited.instant_limit_per_payment == 2000
    assert "The instant limits are changed." in page.content.decode()
    shown = money.display(2000, "EUR")
    assert f'id="limit-per-payment">{shown}<' in page.content.decode()


def test_a_raise_waits_and_the_asker_cannot_confirm_it(limited):
    maker = make_operator(roles.OPERATOR, roles.APPROVER, username="maker")
    client = logged_in(maker)

    page = ask(client, maker, limited, per_payment="80.00", per_day="200.00")

    html = page.content.decode()
    assert "Waiting for a second person" in html
    assert 'id="limit-decide-form"' not in html  # the asker sees no Confirm button
    change = InstantLimitChange.objects.get(status="pending")
    refused = client.post(
        reverse("ledger:instant_limit_decide", args=[change.pk]),
        {"decision": "approve", "otp_token": fresh_code(maker)},
        follow=True,
    )
    assert "another person must decide" in refused.content.decode()
    limited.refresh_from_db()
    assert limited.instant_limit_per_payment == 5000


def test_a_second_person_confirms_the_raise_with_a_fresh_code(limited):
    maker = make_operator(roles.OPERATOR, username="maker")
    ask(logged_in(maker), maker, limited, per_payment="80.00", per_day="200.00")
    change = InstantLimitChange.objects.get(status="pending")
    checker = make_operator(roles.APPROVER, username="checker")
    client = logged_in(checker)
    assert (
        'id="limit-decide-form"'
        in client.get(reverse("ledger:account_detail", args=[limited.pk])).content.decode()
    )

    stale = client.post(
        reverse("ledger:instant_limit_decide", args=[change.pk]),
        {"decision": "approve", "otp_token": "000000"},
        follow=True,
    )
    limited.refresh_from_db()
    assert limited.instant_limit_per_payment == 5000, stale.content.decode()[:300]
    client.post(
        reverse("ledger:instant_limit_decide", args=[change.pk]),
        {"decision": "approve", "otp_token": fresh_code(checker)},
    )

    limited.refresh_from_db()
    assert limited.instant_limit_per_payment == 8000
    change.refresh_from_db()
    assert change.status == "applied" and change.decided_by_user == checker
    assert AuditEvent.objects.filter(action="instant_limit.confirm").exists()


def test_the_back_office_confirms_in_the_admin(limited):
    maker = make_operator(roles.OPERATOR, username="maker")
    ask(logged_in(maker), maker, limited, per_payment="50.00", per_day="")  # none a day: a raise
    change = InstantLimitChange.objects.get(status="pending")
    clerk = grant(UserFactory(username="clerk", is_staff=True), roles.ADMIN)
    client = logged_in(clerk)
    url = reverse("admin:accounts_instantlimitchange_decide", args=[change.pk])
    listed = client.get(reverse("admin:accounts_instantlimitchange_changelist"))
    assert listed.status_code == 200 and url in listed.content.decode()
    assert client.get(url).status_code == 200

    client.post(url, {"decision": "approve", "otp_token": fresh_code(clerk)})

    limited.refresh_from_db()
    assert limited.instant_limit_per_day is None
    assert limited.instant_limit_per_payment == 5000  # untouched


def test_the_approvals_page_lists_the_raise_for_another_approver_only(limited):
    maker = make_operator(roles.OPERATOR, roles.APPROVER, username="maker")
    maker_client = logged_in(maker)
    ask(maker_client, maker, limited, per_payment="80.00", per_day="200.00")
    checker = make_operator(roles.APPROVER, username="checker")

    for_checker = logged_in(checker).get(reverse("approvals")).content.decode()
    for_maker = maker_client.get(reverse("approvals")).content.decode()

    assert 'id="limits-waiting"' in for_checker and limited.number in for_checker
    assert 'id="limits-waiting"' not in for_maker
