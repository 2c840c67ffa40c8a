"""The last mile: styled error pages with the navigation, ISO dates in forms, and the
batches list's date and file-name filters and MsgId column."""

from __future__ import annotations

import pytest
from django.test import RequestFactory
from django.urls import reverse

from config import views

pytestmark = pytest.mark.django_db


def test_an_unknown_page_is_styled_and_shows_the_way(operator_client):
    response = operator_client.get("/no/such/page/")

    assert response.status_code == 404
    html = response.content.decode()
    assert "css/dashboard.css" in html
    assert 'href="/payments/"' in html and 'href="/batches/"' in html
    assert "/no/such/page/" in html


def test_the_server_error_page_needs_no_request_context_and_shows_the_way():
    response = views.server_error(RequestFactory().get("/payments/"))

    assert response.status_code == 500
    html = response.content.decode()
    assert "Something went wrong" in html and 'href="/payments/"' in html


def test_a_page_for_another_role_is_styled(client, db):
    from tests.factories import UserFactory
    from tests.helpers import otp_login

    otp_login(client, UserFactory(username="merchant-user"))  # no staff role
    response = client.get(reverse("payments:search"))

    assert response.status_code == 403
    assert 'href="/payments/"' in response.content.decode()


def test_dates_in_forms_are_iso(operator_client, world):
    html = operator_client.get(
        reverse("payments:search"), {"created_from": "2026-03-01"}
    ).content.decode()
    assert 'value="2026-03-01"' in html and 'placeholder="YYYY-MM-DD"' in html


def test_the_batches_list_filters_by_file_name_and_date_and_shows_the_msgid(operator_client, world):
    url = reverse("batches:list")
    day = world.batch.created_at.date().isoformat()

    html = operator_client.get(url, {"file_name": "MARCH"}).content.decode()
    assert "payouts-march.csv" in html and "MSG-2026-03-01" in html

    assert (
        "payouts-march.csv" not in operator_client.get(url, {"file_name": "april"}).content.decode()
    )
    html = operator_client.get(url, {"uploaded_from": day, "uploaded_to": day}).content.decode()
    assert "payouts-march.csv" in html
    html = operator_client.get(url, {"uploaded_to": "2000-01-01"}).content.decode()
    assert "payouts-march.csv" not in html
    html = operator_client.get(url, {"file_name": "MSG-2026-03-01"}).content.decode()
    assert "payouts-march.csv" in html
