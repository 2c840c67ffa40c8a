"""Bounded statements (issue 18, point 10): no request makes the hub write a statement of any
size. JSON comes in pages (limit, cursor); camt.053 and CSV, written whole, are refused with a
clear 400 past STATEMENT_MAX_ENTRIES entries, before any of it is written."""

from __future__ import annotations

import json

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.identity.audit import Actor
from payments import api_keys
from tests.factories import AccountFactory, MerchantFactory, fund

pytestmark = pytest.mark.django_db


@pytest.fixture
def busy(settings):
    """A merchant's account with 8 entries today, and an API client of the merchant."""
    settings.STATEMENT_PAGE_SIZE = 5
    settings.STATEMENT_PAGE_MAX = 6
    settings.STATEMENT_MAX_ENTRIES = 8
    merchant = MerchantFactory()
    account = AccountFactory(merchant=merchant, currency="EUR")
    for cents in range(1, 9):
        fund(account, cents * 100)
    _, key = api_keys.api_key_create(merchant=merchant, name="t", actor=Actor.system("t"))
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    today = timezone.localdate().isoformat()
    return api, account, f"/api/v1/accounts/{account.pk}/statement/?from={today}&to={today}"


def page(api, url: str) -> dict:
    response = api.get(url)
    assert response.status_code == 200, response.content
    return json.loads(b"".join(response.streaming_content))


def test_json_comes_in_pages_that_add_up_to_the_statement(busy):
    api, _account, url = busy
    seen: list[int] = []
    cursor = None
    pages = 0
    while True:
        body = page(api, url + "&format=json&limit=3" + (f"&cursor={cursor}" if cursor else ""))
        assert len(body["entries"]) <= 3
        seen += [entry["entry"] for entry in body["entries"]]
        pages += 1
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert pages == 3 and len(seen) == 8 and seen == sorted(set(seen))
    assert body["opening_booked"] == "0.00" and body["closing_booked"] == "36.00"


def test_a_page_is_statement_page_size_long_unless_asked(busy):
    api, _account, url = busy
    first = page(api, url)
    assert len(first["entries"]) == 5 and first["next_cursor"] == str(first["entries"][-1]["entry"])
    rest = page(api, url + f"&cursor={first['next_cursor']}")
    assert len(rest["entries"]) == 3 and rest["next_cursor"] is None


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("limit=0", "limit"),
        ("limit=7", "limit"),  # over STATEMENT_PAGE_MAX
        ("limit=100000000", "limit"),
        ("limit=-1", "limit"),
        ("limit=ten", "limit"),
        ("cursor=abc", "cursor"),
        ("cursor=" + "9" * 40, "cursor"),
    ],
)
def test_a_page_asked_for_wrongly_is_a_400_naming_the_field(busy, query, field):
    api, _account, url = busy
    response = api.get(f"{url}&format=json&{query}")
    assert response.status_code == 400
    assert field in json.dumps(response.json())


@pytest.mark.parametrize("kind", ["camt.053", "csv"])
def test_a_whole_statement_past_the_maximum_is_refused_before_it_is_written(busy, settings, kind):
    api, _account, url = busy
    assert api.get(f"{url}&format={kind}").status_code == 200  # 8 entries: at the maximum
    settings.STATEMENT_MAX_ENTRIES = 7

    response = api.get(f"{url}&format={kind}")

    assert response.status_code == 400
    assert "more than 7 entries" in json.dumps(response.json())


def test_another_accounts_cursor_shows_nothing_of_it(busy):
    api, _account, url = busy
    other = AccountFactory(currency="EUR")
    fund(other, 12_345)
    body = page(api, url + "&cursor=0&limit=6")
    assert len(body["entries"]) == 6
    assert "123.45" not in json.dumps(body)
