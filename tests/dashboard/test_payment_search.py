"""The payment search: each filter, bad input, keyset pages without counting."""

from __future__ import annotations

import re
from datetime import date, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from payments import views as payment_views
from tests.dashboard.conftest import PINNED_TODAY, Shop, at

pytestmark = pytest.mark.django_db

URL = "/payments/"


def found(response) -> list[str]:
    """The payment ids listed on a result page, in order."""
    assert response.status_code == 200
    return re.findall(
        r'class="payment-link" href="/payments/([0-9a-f-]{36})/"', response.content.decode()
    )


@pytest.fixture
def rival(db) -> Shop:
    return Shop("Rival")


@pytest.fixture
def mix(shop, rival):
    """Payments of two merchants, in two currencies, statuses and days."""
    return {
        "old": shop.pay(1_000, reference="inv-1", created_at=at(date(2024, 5, 1))),
        "failed": shop.pay(
            2_550, reference="inv-2", status="failed", created_at=at(date(2024, 5, 10))
        ),
        "big": shop.pay(125_000, reference="inv-3", created_at=at(date(2024, 5, 12))),
        "yen": shop.pay(
            1_250, currency="JPY", reference="inv-4", created_at=at(date(2024, 5, 12), 13)
        ),
        "rival": rival.pay(2_550, reference="inv-2", created_at=at(date(2024, 5, 14))),
    }


def ids(*payments) -> list[str]:
    return [str(p.pk) for p in payments]


def test_without_filters_the_newest_payments_come_first(operator_client, mix):
    assert found(operator_client.get(URL)) == ids(
        mix["rival"], mix["yen"], mix["big"], mix["failed"], mix["old"]
    )


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("reference=inv-2", ["rival", "failed"]),
        ("status=failed", ["failed"]),
        ("currency=JPY", ["yen"]),
        ("currency=jpy", ["yen"]),
        ("account=Rival-EUR", ["rival"]),  # as debtor
        ("account=Shop-PAYEE-JPY", ["yen"]),  # as creditor
        ("created_from=2024-05-10&created_to=2024-05-10", ["failed"]),
        ("created_from=2024-05-12", ["rival", "big", "yen"]),
        ("created_to=2024-05-01", ["old"]),
        ("amount_min=25.50&amount_max=25.50", ["rival", "failed"]),
        ("amount_min=25.50&amount_max=25.50&currency=EUR", ["rival", "failed"]),
        # Without a currency, 1250 matches 1,250 yen (and would match 1,250.00 euros).
        ("amount_min=1250&amount_max=1250", ["yen", "big"]),
        ("amount_min=1000", ["big", "yen"]),
        ("amount_max=10", ["old"]),
        ("amount_min=10.001&amount_max=25.5", ["rival", "failed"]),  # rounded inwards
        ("reference=inv-2&status=completed", ["rival"]),
    ],
)
def test_each_filter_narrows_the_search(operator_client, mix, query, expected):
    assert sorted(found(operator_client.get(f"{URL}?{query}"))) == sorted(
        ids(*(mix[name] for name in expected))
    )


def test_search_by_id_finds_the_one_payment(operator_client, mix):
    assert found(operator_client.get(f"{URL}?id={mix['yen'].pk}")) == ids(mix["yen"])


def test_a_search_without_match_says_so(operator_client, mix):
    response = operator_client.get(f"{URL}?reference=nothing-like-it")

    assert found(response) == []
    assert "No payments match" in response.content.decode()


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("id=not-a-uuid", "A payment id is a UUID"),
        ("amount_min=12,50", "is not an amount: write it like 12.50"),
        ("amount_max=-5", "is not an amount"),
        ("amount_min=1e3", "is not an amount"),
        ("amount_min=20&amount_max=10", "“Amount to” is below “Amount from”"),
        ("amount_min=1.001&currency=EUR", "EUR amounts have 2 decimals at most"),
        ("amount_min=1.5&currency=JPY", "JPY amounts have 0 decimals at most"),
        ("amount_max=100000000000000", "That amount is too large"),
        ("created_from=2024-05-12&created_to=2024-05-10", "“Created to” is before “Created from”"),
        ("created_from=12/05/2024x", "Enter a valid date"),
        ("currency=EURO", "Ensure this value has at most 3 characters"),
        ("currency=XYZ", "XYZ is not an ISO 4217 currency code"),
        ("account=NO-SUCH-ACCOUNT", "No account has the number “NO-SUCH-ACCOUNT”"),
        ("status=lost", "Select a valid choice"),
    ],
)
def test_bad_input_is_reported_on_the_form_and_nothing_is_listed(
    operator_client, mix, query, message
):
    response = operator_client.get(f"{URL}?{query}")

    assert response.status_code == 200
    page = response.content.decode()
    assert message in page
    assert 'class="errorlist' in page
    assert found(response) == []
    assert "Export CSV" not in page


def test_pages_follow_each_other_without_gaps_or_repeats(operator_client, shop, monkeypatch):
    # given five payments created at the very same moment, and pages of two
    monkeypatch.setattr(payment_views, "PAGE_SIZE", 2)
    moment = at(PINNED_TODAY)
    payments = [shop.pay(100 + n, created_at=moment) for n in range(5)]
    older = shop.pay(50, created_at=moment - timedelta(seconds=1))

    # when walking forward with "Older"
    seen, pages, url = [], [], f"{URL}?currency=EUR"
    while url:
        response = operator_client.get(url)
        page_ids = found(response)
        pages.append(page_ids)
        seen += page_ids
        link = re.search(r'<a rel="next" href="([^"]+)"', response.content.decode())
        url = URL + link.group(1).replace("&amp;", "&") if link else None

    # then every payment comes once, newest first, the ties in a stable order
    assert [len(page) for page in pages] == [2, 2, 2]
    assert sorted(seen[:5]) == sorted(ids(*payments)) and seen[5] == str(older.pk)
    assert len(set(seen)) == 6

    # and "Newer" from the last page gives the page before it again, filters kept
    newer = re.search(r'<a rel="prev" href="([^"]+)"', response.content.decode()).group(1)
    assert "currency=EUR" in newer
    assert found(operator_client.get(URL + newer.replace("&amp;", "&"))) == pages[1]


def test_the_first_page_has_no_newer_link_and_the_last_no_older(operator_client, shop):
    shop.pay(100)

    page = operator_client.get(URL).content.decode()

    assert 'rel="next"' not in page and 'rel="prev"' not in page


def test_a_forged_cursor_gives_the_first_page(operator_client, mix):
    first = found(operator_client.get(URL))
    for cursor in ("garbage", "eyJiIjpmYWxzZSwidiI6WyJub3QgYSBkYXRlIiwieCJdfQ"):
        assert found(operator_client.get(f"{URL}?cursor={cursor}")) == first


def test_the_search_never_counts_the_table(operator_client, mix):
    with CaptureQueriesContext(connection) as queries:
        operator_client.get(URL)
        operator_client.get(f"{URL}?status=completed&currency=EUR")

    payment_queries = [q["sql"] for q in queries.captured_queries if "payments_payment" in q["sql"]]
    assert payment_queries
    assert not [sql for sql in payment_queries if "COUNT(" in sql.upper()]
    assert all("LIMIT 51" in sql for sql in payment_queries)


def test_results_show_amounts_in_major_units_and_link_accounts(operator_client, mix):
    page = operator_client.get(f"{URL}?reference=inv-3").content.decode()

    assert "1,250.00 EUR" in page
    assert f'href="/ledger/accounts/{mix["big"].debtor_account_id}/"' in page
    assert 'href="/payments/export.csv?reference=inv-3"' in page
