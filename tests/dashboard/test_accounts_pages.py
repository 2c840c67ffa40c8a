"""The account list and one account's page with its statement."""

from __future__ import annotations

import re

import pytest

from accounts.ledger import posting
from accounts.ledger import views as account_views
from accounts.models import Account
from payments import services
from tests.factories import AccountFactory, MerchantFactory, fund

pytestmark = pytest.mark.django_db

LIST = "/ledger/accounts/"


def listed(response) -> list[str]:
    assert response.status_code == 200
    return re.findall(
        r'<td><a href="/ledger/accounts/[0-9a-f-]{36}/">([^<]+)</a></td>', response.content.decode()
    )


@pytest.fixture
def accounts(db):
    acme = MerchantFactory(name="Acme")
    globex = MerchantFactory(name="Globex")
    made = {
        "acme-eur": AccountFactory(
            merchant=acme, currency="EUR", number="NL01ACME", name="Acme BV"
        ),
        "acme-gbp": AccountFactory(
            merchant=acme, currency="GBP", number="GB01ACME", name="Acme Ltd"
        ),
        "globex": AccountFactory(
            merchant=globex, currency="EUR", number="DE01GLOBEX", name="Globex GmbH"
        ),
        "frozen": AccountFactory(
            merchant=globex,
            currency="EUR",
            number="DE02GLOBEX",
            name="Hank Scorpio",
            status=Account.Status.FROZEN,
        ),
    }
    fund(made["acme-eur"], 123_456)
    return {"acme": acme, "globex": globex, **made}


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("", ["DE01GLOBEX", "DE02GLOBEX", "GB01ACME", "NL01ACME", "SYS-FUNDING-EUR"]),
        ("q=de0", ["DE01GLOBEX", "DE02GLOBEX"]),
        ("q=NL01ACME", ["NL01ACME"]),
        ("q=scorpio", ["DE02GLOBEX"]),
        ("currency=gbp", ["GB01ACME"]),
        ("status=frozen", ["DE02GLOBEX"]),
        ("kind=system", ["SYS-FUNDING-EUR"]),
        ("kind=customer&currency=EUR&status=active", ["DE01GLOBEX", "NL01ACME"]),
    ],
)
def test_the_account_list_filters(operator_client, accounts, query, expected):
    assert listed(operator_client.get(f"{LIST}?{query}")) == expected


def test_the_account_list_filters_by_merchant(operator_client, accounts):
    response = operator_client.get(f"{LIST}?merchant={accounts['acme'].pk}")

    assert listed(response) == ["GB01ACME", "NL01ACME"]


def test_the_account_list_shows_balances(operator_client, accounts):
    posting.place_hold(account_id=accounts["acme-eur"].pk, amount=456, currency="EUR")

    page = operator_client.get(f"{LIST}?q=NL01").content.decode()

    row = page.split("NL01ACME</a></td>")[1].split("</tr>")[0]
    assert re.findall(r'<td class="amount">([\d,.]+)</td>', row) == [
        "1,234.56",
        "4.56",
        "1,230.00",
    ]
    assert "Acme" in row and "Active" in row


def test_bad_account_filters_are_reported(operator_client, accounts):
    page = operator_client.get(f"{LIST}?currency=QQQ&merchant=nope").content.decode()

    assert "QQQ is not an ISO 4217 currency code" in page
    assert "“nope” is not a valid UUID" in page
    assert "No accounts match" not in page and 'id="accounts"' not in page


def test_the_account_list_pages_by_number(operator_client, db, monkeypatch):
    monkeypatch.setattr(account_views, "ACCOUNTS_PAGE_SIZE", 2)
    for n in range(5):
        AccountFactory(number=f"PAGE{n}")

    first = operator_client.get(f"{LIST}?q=PAGE")
    assert listed(first) == ["PAGE0", "PAGE1"]
    following = re.search(r'rel="next" href="([^"]+)"', first.content.decode()).group(1)
    second = operator_client.get(LIST + following.replace("&amp;", "&"))
    assert listed(second) == ["PAGE2", "PAGE3"]
    assert "Next →" in second.content.decode() and "← Previous" in second.content.decode()


@pytest.fixture
def busy_account(db):
    """An EUR account: funded 100.00, paid 30.00 out, got 5.50 in, then 10.00 refunded back."""
    merchant = MerchantFactory()
    account = AccountFactory(merchant=merchant, currency="EUR", number="BUSY-1")
    payee = AccountFactory(merchant=None, currency="EUR", number="PAYEE-1")
    fund(account, 10_000)
    out = services.payment_authorize(
        merchant=merchant,
        debtor=account,
        creditor=payee,
        amount=3_000,
        currency="EUR",
        reference="rent-may",
    )
    fund(payee, 10_000)
    posting.transfer(debtor_id=payee.pk, creditor_id=account.pk, amount=550, currency="EUR")
    services.payment_refund(payment_id=out.pk, amount=1_000)
    return account


def statement_rows(page: str) -> list[tuple[str, str]]:
    table = page.split('id="statement"')[1].split("</table>")[0]
    amount = r'<td class="amount (?:debit|credit)">([+-][\d,.]+)</td>'
    balance = r'<td class="amount">([-\d,.]+)</td>'
    return re.findall(amount + r"\s*" + balance, table)


def test_the_statement_is_newest_first_with_the_running_balance(operator_client, busy_account):
    page = operator_client.get(f"/ledger/accounts/{busy_account.pk}/").content.decode()

    assert statement_rows(page) == [
        ("+10.00", "85.50"),
        ("+5.50", "75.50"),
        ("-30.00", "70.00"),
        ("+100.00", "100.00"),
    ]
    balances = page.split('id="balances"')[1].split("</dl>")[0]
    assert "85.50 EUR" in balances
    assert 'href="/payments/?reference=rent-may&amp;account=BUSY-1"' in page
    assert 'href="/payments/?account=BUSY-1"' in page


def test_the_statement_pages_by_entry(operator_client, busy_account, monkeypatch):
    monkeypatch.setattr(account_views, "STATEMENT_PAGE_SIZE", 3)
    url = f"/ledger/accounts/{busy_account.pk}/"

    first = operator_client.get(url).content.decode()
    following = re.search(r'rel="next" href="([^"]+)"', first).group(1).replace("&amp;", "&")
    second = operator_client.get(url + following).content.decode()

    assert [amount for amount, _ in statement_rows(first)] == ["+10.00", "+5.50", "-30.00"]
    assert statement_rows(second) == [("+100.00", "100.00")]
    back = re.search(r'rel="prev" href="([^"]+)"', second).group(1).replace("&amp;", "&")
    assert statement_rows(operator_client.get(url + back).content.decode()) == statement_rows(first)


def test_the_account_page_shows_holds_and_no_secrets(operator_client, busy_account):
    posting.place_hold(account_id=busy_account.pk, amount=1_234, currency="EUR", reference="cart-9")

    page = operator_client.get(f"/ledger/accounts/{busy_account.pk}/").content.decode()

    holds = page.split('id="holds"')[1].split("</table>")[0]
    assert "12.34" in holds and "cart-9" in holds
    assert busy_account.merchant.webhook_secret not in page


def test_an_unknown_account_is_404(operator_client, db):
    assert (
        operator_client.get("/ledger/accounts/00000000-0000-0000-0000-000000000000/").status_code
        == 404
    )
