"""The back office's searches find what a clerk pastes: whole phrases, fragments in any
case, truncated ids, account numbers, amounts; in the admin and the dashboard alike."""

from __future__ import annotations

import pytest
from django.urls import reverse

from tests.factories import UserFactory
from tests.helpers import otp_login

pytestmark = pytest.mark.django_db


@pytest.fixture
def superuser_client(client, db):
    otp_login(client, UserFactory(username="backoffice", is_staff=True, is_superuser=True))
    return client


def _admin_finds(client, term: str) -> str:
    response = client.get(reverse("admin:payments_payment_changelist"), {"q": term})
    assert response.status_code == 200
    return response.content.decode()


@pytest.mark.parametrize(
    "term, which",
    [
        ("order 1002", "authorized"),  # a phrase, unquoted
        ('"order 1002"', "authorized"),
        ("order", "authorized"),
        ("1002", "authorized"),
        ("ORDER 10", "authorized"),  # any case, a fragment
        ("invoice 2026-114", "paid"),
        ("supplier", "paid"),
        ("acme-0000", "paid"),  # a fragment of the end-to-end id
        ("12,345.67", "paid"),  # the amount, as pages show it
        ("12345.67", "paid"),
    ],
)
def test_admin_search_finds_phrases_fragments_and_amounts(superuser_client, world, term, which):
    found = getattr(world, which)
    other = world.authorized if which == "paid" else world.paid

    html = _admin_finds(superuser_client, term)

    assert str(found.pk) in html
    assert str(other.pk) not in html


def test_admin_search_finds_an_id_by_its_prefix_and_its_truncated_form(superuser_client, world):
    paid = str(world.paid.pk)
    for term in (paid, paid[:8], paid[:12] + "…", paid[:13].upper()):
        html = _admin_finds(superuser_client, term)
        assert paid in html, term
        assert str(world.authorized.pk) not in html, term
    assert paid not in _admin_finds(superuser_client, paid[:7])  # too short to be a prefix


def test_admin_search_finds_payments_of_an_account_number(superuser_client, world):
    html = _admin_finds(superuser_client, world.creditor.number.lower())
    assert str(world.paid.pk) in html and str(world.authorized.pk) in html


def test_admin_search_says_how_it_searches(superuser_client, world):
    html = _admin_finds(superuser_client, "")
    assert "first 8+ characters" in html and "no quotes needed" in html


def test_admin_filters_by_amount_range_date_range_and_account(superuser_client, world):
    url = reverse("admin:payments_payment_changelist")
    html = superuser_client.get(
        url, {"amount_min": "10000", "amount_max": "20,000.00", "currency": "EUR"}
    ).content.decode()
    assert str(world.paid.pk) in html and str(world.authorized.pk) not in html

    today = world.paid.created_at.date().isoformat()
    html = superuser_client.get(
        url, {"created_at_from": today, "created_at_to": today}
    ).content.decode()
    assert str(world.paid.pk) in html
    html = superuser_client.get(url, {"created_at_to": "2000-01-01"}).content.decode()
    assert str(world.paid.pk) not in html

    html = superuser_client.get(url, {"account_number": world.debtor.number}).content.decode()
    assert str(world.paid.pk) in html and str(world.authorized.pk) in html


def test_ledger_entry_list_filters_by_account_number(superuser_client, world):
    html = superuser_client.get(
        reverse("admin:accounts_ledgerentry_changelist"), {"account_number": world.creditor.number}
    ).content.decode()
    assert "+12,345.67 EUR" in html or "12,345.67 EUR" in html
    assert "1,000,000.00 EUR" not in html  # the debtor's funding entry is not the creditor's


def _dashboard_finds(client, **params) -> str:
    response = client.get(reverse("payments:search"), params)
    assert response.status_code == 200
    return response.content.decode()


def test_dashboard_reference_search_is_a_fragment_in_any_case(operator_client, world):
    html = _dashboard_finds(operator_client, reference="Supplier")
    assert str(world.paid.pk) in html
    html = _dashboard_finds(operator_client, reference="supplier")
    assert str(world.paid.pk) in html and str(world.authorized.pk) not in html


def test_dashboard_finds_a_payment_by_id_prefix_and_end_to_end_fragment(operator_client, world):
    paid = str(world.paid.pk)
    html = _dashboard_finds(operator_client, id=paid[:12] + "…")
    assert f'href="/payments/{paid}/"' in html
    assert str(world.authorized.pk) not in html
    html = _dashboard_finds(operator_client, end_to_end_id="acme-000042")
    assert f'href="/payments/{paid}/"' in html

    html = _dashboard_finds(operator_client, id="86ebdfb")
    assert "first 8 or more characters" in html


def test_dashboard_filters_by_merchant(operator_client, world):
    html = _dashboard_finds(operator_client, merchant=str(world.merchant.pk))
    assert str(world.paid.pk) in html
    assert "How it searches" in html


def test_a_whole_end_to_end_id_is_found_by_its_tail_and_checked_whole(superuser_client, world):
    from payments import services

    def pay(end_to_end_id: str):
        return services.payment_authorize(
            merchant=world.merchant,
            debtor=world.debtor,
            creditor=world.creditor,
            amount=100,
            currency="EUR",
            end_to_end_id=end_to_end_id,
        )

    wanted, same_tail = pay("E2E-0811-000059481"), pay("E2E-0912-000059481")

    html = _admin_finds(superuser_client, "e2e-0811-000059481")
    assert str(wanted.pk) in html and str(same_tail.pk) not in html
    html = _admin_finds(superuser_client, "59481")
    assert str(wanted.pk) in html and str(same_tail.pk) in html
