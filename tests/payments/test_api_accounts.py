"""Accounts and statements over the API."""

import pytest

pytestmark = pytest.mark.django_db


def test_accounts_list_only_own_with_decimal_balances(shop, rival):
    shop.pay("10.00", capture=False)

    results = shop.client.get("/api/v1/accounts/").json()["results"]

    assert [a["number"] for a in results] == [shop.account.number]
    assert results[0]["balance"] == "1000.00"
    assert results[0]["held"] == "10.00"
    assert results[0]["available"] == "990.00"
    assert results[0]["status"] == "active"
    assert shop.client.get(f"/api/v1/accounts/{rival.account.id}/").status_code == 404
    assert (
        shop.client.get(f"/api/v1/accounts/{shop.account.id}/").json()["number"]
        == shop.account.number
    )


def test_statement_is_newest_first_with_running_balance(shop, rival):
    shop.pay("10.00")
    shop.pay("2.50")

    entries = shop.client.get(f"/api/v1/accounts/{shop.account.id}/entries/").json()["results"]

    assert [e["amount"] for e in entries] == ["-2.50", "-10.00", "1000.00"]
    assert [e["balance_after"] for e in entries] == ["987.50", "990.00", "1000.00"]
    assert entries[0]["kind"] == "transfer" and entries[-1]["kind"] == "funding"
    assert shop.client.get(f"/api/v1/accounts/{rival.account.id}/entries/").status_code == 404
