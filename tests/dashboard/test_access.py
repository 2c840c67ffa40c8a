"""Every dashboard page: open to operators, closed to anyone else."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from tests.dashboard.conftest import Shop
from tests.factories import MerchantFactory, UserFactory
from tests.helpers import make_operator, otp_login, totp_device

pytestmark = pytest.mark.django_db


@pytest.fixture
def pages(db) -> list[str]:
    shop = Shop("Door")
    payment = shop.pay(1250)
    return [
        reverse("home"),
        reverse("payments:search"),
        reverse("payments:search") + "?status=completed",
        reverse("payments:export"),
        reverse("payments:detail", args=[payment.pk]),
        reverse("ledger:account_list"),
        reverse("ledger:account_list") + "?currency=EUR",
        reverse("ledger:account_detail", args=[shop.eur.pk]),
    ]


def inline_code(page: str) -> list[str]:
    """What the CSP refuses: inline <script> and <style>, style="" attributes."""
    scripts = [tag for tag in re.findall(r"<script\b[^>]*>", page) if "src=" not in tag]
    return scripts + re.findall(r"<style\b", page) + re.findall(r"\sstyle=", page)


def test_an_operator_opens_every_page(operator_client, pages):
    for url in pages:
        response = operator_client.get(url)
        assert response.status_code == 200, url
        assert "no-store" in response["Cache-Control"], url  # money on screen: never cached
        if response.streaming:
            continue
        page = response.content.decode()
        assert inline_code(page) == [], url
        assert "<script" not in page, url  # every page works without JavaScript


def test_an_anonymous_visitor_is_sent_to_the_login_page(client, pages):
    for url in pages:
        response = client.get(url)
        assert response.status_code == 302, url
        assert response["Location"].startswith("/accounts/login/?next="), url


def test_a_password_only_session_is_sent_to_the_second_step(client, pages):
    operator = make_operator()
    totp_device(operator)
    client.force_login(operator)  # the password step only
    for url in pages:
        response = client.get(url)
        assert response.status_code == 302, url
        assert response["Location"].startswith("/accounts/verify/?next="), url


def test_a_merchant_user_is_refused(client, pages):
    merchant_user = UserFactory(merchant=MerchantFactory())
    otp_login(client, merchant_user)
    for url in pages:
        response = client.get(url)
        assert response.status_code == 403, url


def test_a_user_without_a_staff_role_is_refused(client, pages):
    otp_login(client, UserFactory())
    assert all(client.get(url).status_code == 403 for url in pages)


def test_the_navigation_links_the_dashboard_pages(operator_client):
    page = operator_client.get(reverse("payments:search")).content.decode()
    for href in ('href="/"', 'href="/payments/"', 'href="/ledger/accounts/"', 'href="/batches/"'):
        assert href in page
    assert 'href="/payments/" aria-current="page"' in page
