"""The home page: balances per currency, today's volume and success rate, failures, the chart."""

from __future__ import annotations

import re
import zoneinfo
from datetime import datetime, timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from accounts.ledger import posting
from accounts.ledger.selectors import CurrencyBalances, customer_balances_by_currency
from config import views as home_views
from payments import figures
from tests.dashboard.conftest import PINNED_TODAY, Shop, at
from tests.factories import AccountFactory, fund

pytestmark = pytest.mark.django_db

TODAY = PINNED_TODAY
YESTERDAY = TODAY - timedelta(days=1)
TOMORROW = TODAY + timedelta(days=1)


@pytest.fixture
def pinned_today(monkeypatch):
    monkeypatch.setattr(home_views, "local_today", lambda: TODAY)
    return TODAY


@pytest.fixture
def day_of_payments(shop: Shop) -> Shop:
    """On TODAY: 9 EUR payments (5 succeeded, 1 failed, 3 unfinished) and 2 JPY; others around."""
    for status, amount in [
        ("completed", 10_000),
        ("completed", 2_550),
        ("completed", 1),
        ("refunded", 5_000),
        ("partially_refunded", 4_000),
        ("failed", 99_999),
        ("authorized", 700),
        ("voided", 300),
        ("expired", 200),
    ]:
        shop.pay(amount, status=status, created_at=at(TODAY, 9))
    shop.pay(1_500, currency="JPY", status="completed", created_at=at(TODAY, 0, 0))
    shop.pay(500, currency="JPY", status="failed", created_at=at(TODAY, 23, 59))
    # Just outside the day, either side.
    shop.pay(777_777, status="completed", created_at=at(TODAY) - timedelta(days=1))
    shop.pay(888_888, status="failed", created_at=at(TOMORROW, 0, 0))
    return shop


# --- balances --------------------------------------------------------------------------------


def test_balances_add_up_the_customer_accounts_per_currency():
    # given two EUR customer accounts, one with a hold, a GBP one, and the funding accounts
    first = AccountFactory(currency="EUR")
    second = AccountFactory(currency="EUR")
    pounds = AccountFactory(currency="GBP")
    fund(first, 100_000)
    fund(second, 25_050)
    posting.place_hold(account_id=first.pk, amount=10_000, currency="EUR")

    # when
    balances = customer_balances_by_currency()

    # then the system (funding) accounts are left out
    assert balances == [
        CurrencyBalances(currency="EUR", accounts=2, balance=125_050, held=10_000),
        CurrencyBalances(currency="GBP", accounts=1, balance=0, held=0),
    ]
    assert balances[0].available == 115_050
    assert pounds.balance == 0


def test_the_home_page_shows_the_balances_formatted(operator_client, pinned_today):
    rich = AccountFactory(currency="EUR")
    fund(rich, 123_456_789)
    fund(AccountFactory(currency="JPY"), 5_000)

    page = operator_client.get("/").content.decode()

    balances = page.split('id="balances"')[1].split("</table>")[0]
    assert "1,234,567.89" in balances
    assert "5,000" in balances and "5,000.00" not in balances  # JPY has no decimals


# --- today -----------------------------------------------------------------------------------


def test_todays_volume_counts_every_payment_created_today_per_currency(day_of_payments):
    summary = figures.payments_day_summary(day=TODAY)

    assert [(v.currency, v.count, v.amount) for v in summary.volumes] == [
        ("EUR", 9, 10_000 + 2_550 + 1 + 5_000 + 4_000 + 99_999 + 700 + 300 + 200),
        ("JPY", 2, 2_000),
    ]


def test_the_success_rate_is_succeeded_over_finished(day_of_payments):
    summary = figures.payments_day_summary(day=TODAY)

    # completed x4 (3 EUR + 1 JPY), refunded, partially refunded; failed x2 (EUR, JPY).
    assert (summary.succeeded, summary.failed, summary.finished) == (6, 2, 8)
    assert summary.success_rate == Decimal("75.0")


def test_a_day_without_finished_payments_has_no_success_rate(shop):
    shop.pay(100, status="authorized", created_at=at(TODAY))

    summary = figures.payments_day_summary(day=TODAY)

    assert summary.success_rate is None
    assert summary.volumes[0].count == 1


def test_days_are_days_of_the_time_zone(shop):
    berlin = zoneinfo.ZoneInfo("Europe/Berlin")
    utc = zoneinfo.ZoneInfo("UTC")
    # 22:30 UTC on the 14th is 00:30 on the 15th in Berlin (summer time).
    late = datetime(2024, 5, 14, 22, 30, tzinfo=utc)
    shop.pay(4_200, created_at=late)

    with timezone.override(utc):
        assert figures.payments_day_summary(day=TODAY).volumes == []
    with timezone.override(berlin):
        summary = figures.payments_day_summary(day=TODAY)
        points = figures.daily_volume(currency="EUR", today=TODAY, days=2)
    assert [(v.currency, v.amount) for v in summary.volumes] == [("EUR", 4_200)]
    assert [(p.day, p.amount) for p in points] == [(YESTERDAY, 0), (TODAY, 4_200)]


def test_the_home_page_shows_todays_figures(operator_client, pinned_today, day_of_payments):
    page = operator_client.get("/").content.decode()

    assert 'id="success-rate">75.0%<' in page
    volume = page.split('id="today-volume"')[1].split("</table>")[0]
    rows = re.findall(
        r"<tr>\s*<td>(\w+)</td>\s*<td[^>]*>(\d+)</td>\s*<td[^>]*>([\d,.]+)</td>", volume
    )
    assert rows == [("EUR", "9", "1,227.50"), ("JPY", "2", "2,000")]


# --- failures --------------------------------------------------------------------------------


def test_recent_failures_are_the_last_ten_failed_payments(shop):
    failed = [
        shop.pay(100 + n, status="failed", created_at=at(TODAY) - timedelta(minutes=n))
        for n in range(12)
    ]
    shop.pay(5, status="completed", created_at=at(TODAY) + timedelta(hours=1))

    recent = figures.recent_failed_payments(limit=10)

    assert [p.pk for p in recent] == [p.pk for p in failed[:10]]


def test_the_home_page_links_each_recent_failure(operator_client, pinned_today, shop):
    payment = shop.pay(
        4_321, status="failed", failure_code="account_frozen", created_at=at(TODAY, 8, 5)
    )

    page = operator_client.get("/").content.decode()

    failures = page.split('id="recent-failures"')[1].split("</table>")[0]
    assert f'href="/payments/{payment.pk}/"' in failures
    assert "account_frozen" in failures
    assert "43.21 EUR" in failures
    assert shop.merchant.name in failures
    assert "2024-05-15 08:05:00" in failures


# --- the chart -------------------------------------------------------------------------------


def test_the_daily_series_has_one_point_per_day_with_the_failure_rate(shop):
    shop.pay(1_000, status="completed", created_at=at(TODAY, 1))
    shop.pay(3_000, status="failed", created_at=at(TODAY, 2))
    shop.pay(500, status="completed", created_at=at(TODAY, 3))
    shop.pay(250, status="completed", created_at=at(TODAY - timedelta(days=29)))
    shop.pay(999, status="completed", created_at=at(TODAY - timedelta(days=30)))  # too old
    shop.pay(800, currency="JPY", status="failed", created_at=at(TODAY))  # another currency

    points = figures.daily_volume(currency="EUR", today=TODAY, days=30)

    assert len(points) == 30
    assert points[0].day == TODAY - timedelta(days=29) and points[-1].day == TODAY
    assert (points[0].count, points[0].amount, points[0].failure_rate) == (1, 250, Decimal("0.0"))
    assert (points[-1].count, points[-1].amount, points[-1].failed) == (3, 4_500, 1)
    assert points[-1].failure_rate == Decimal("33.3")
    assert points[10].count == 0 and points[10].failure_rate is None


def test_the_busiest_currency_has_the_most_payments(shop):
    for _ in range(3):
        shop.pay(1, currency="JPY", created_at=at(TODAY))
    shop.pay(1_000_000, currency="EUR", created_at=at(TODAY))

    assert figures.currencies_by_activity(today=TODAY) == [("JPY", 3), ("EUR", 1)]


def test_the_home_page_draws_thirty_bars_and_a_failure_rate_line(
    operator_client, pinned_today, day_of_payments
):
    page = operator_client.get("/").content.decode()

    svg = page.split('<svg xmlns="http://www.w3.org/2000/svg"')[1].split("</svg>")[0]
    bars = re.findall(r'<rect class="bar"[^>]*><title>([^<]*)</title></rect>', svg)
    assert len(bars) == 30
    # The busiest currency (EUR, 9 payments today against JPY's 2) is drawn.
    assert (
        "Wed 15 May 2024: 1,227.50 EUR in 9 payments; failure rate 16.7% (1 of 6 finished)"
        in (bars[-1])
    )
    assert "Tue 14 May 2024: 7,777.77 EUR in 1 payment; failure rate 0.0%" in bars[-2]
    assert "<polyline" in svg
    assert "16 Apr" in svg and "15 May" in svg  # the first and the last day's labels
    assert "%</text>" in svg  # the failure rate axis


def test_the_chart_currency_can_be_chosen(operator_client, pinned_today, day_of_payments):
    page = operator_client.get("/?currency=jpy").content.decode()

    bars = re.findall(r'<rect class="bar"[^>]*><title>([^<]*)</title>', page)
    assert len(bars) == 30
    assert bars[-1].startswith("Wed 15 May 2024: 2,000 JPY in 2 payments; failure rate 50.0%")
    assert 'href="?currency=EUR"' in page


def test_an_unknown_chart_currency_falls_back_to_the_busiest(
    operator_client, pinned_today, day_of_payments
):
    page = operator_client.get("/?currency=XYZ").content.decode()

    assert "1,227.50 EUR in 9 payments" in page


def test_without_payments_the_home_page_says_so(operator_client, pinned_today):
    page = operator_client.get("/").content.decode()

    assert "No payments in the last 30 days." in page
    assert "No payments yet today." in page
    assert "No failed payments." in page
    assert "<svg" not in page


def test_the_home_page_keeps_a_place_for_batches_waiting_for_approval():
    from pathlib import Path

    template = (Path(__file__).resolve().parents[2] / "templates" / "home.html").read_text()
    # Filled by the batches app (templates/batches/_waiting.html), above the figures.
    block = '{% block batches_waiting %}{% include "batches/_waiting.html" %}{% endblock %}'
    assert block in template
    assert template.index(block) < template.index('id="today-heading"')


# --- shared figures --------------------------------------------------------------------------


def test_todays_figures_are_shared_for_a_while_and_balances_stay_live(
    operator_client, pinned_today, shop, settings
):
    settings.HOME_FIGURES_SECONDS = 60
    shop.pay(1_000, created_at=at(TODAY, 9))
    account = AccountFactory(currency="EUR")
    first = operator_client.get("/").content.decode()
    # when more money moves within the minute
    shop.pay(2_000, created_at=at(TODAY, 10))
    fund(account, 700)
    second = operator_client.get("/").content.decode()
    # then the day's figures are the cached ones, said so, and the balances are new
    volume = second.split('id="today-volume"')[1].split("</table>")[0]
    assert re.search(r"<td[^>]*>1</td>\s*<td[^>]*>10\.00</td>", volume)
    assert 'id="figures-at"' in second and "refreshed every 60 seconds" in second
    assert first.split('id="balances"')[1] != second.split('id="balances"')[1]


def test_without_the_cache_the_figures_are_computed_on_each_load(
    operator_client, pinned_today, shop, settings
):
    settings.HOME_FIGURES_SECONDS = 0
    shop.pay(1_000, created_at=at(TODAY, 9))
    operator_client.get("/")
    shop.pay(2_000, created_at=at(TODAY, 10))
    page = operator_client.get("/").content.decode()
    volume = page.split('id="today-volume"')[1].split("</table>")[0]
    assert re.search(r"<td[^>]*>2</td>\s*<td[^>]*>30\.00</td>", volume)
    assert 'id="figures-at"' not in page
