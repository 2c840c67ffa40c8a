"""The approver sees what is paid: every row, its flags, the rule and a confirmation."""

from __future__ import annotations

import re

import pytest

from accounts.identity.audit import Actor
from accounts.models import Merchant
from batches import services
from tests.dashboard import test_batches_pages
from tests.dashboard.test_batches_pages import client_of
from tests.helpers import fresh_code

pytestmark = pytest.mark.django_db
desk = test_batches_pages.desk  # the fixture: a merchant, payees, maker and checkers


def rows_of(page: str) -> list[str]:
    table = page.split('id="rows"')[1].split("</table>")[0]
    return re.findall(r'<tr class="row-item[^"]*">\s*<td class="amount">(\d+)</td>', table)


def test_the_page_lists_every_valid_row_with_its_flags_and_a_confirmation(desk, settings):
    settings.BATCH_LARGEST_ROWS = 1
    paid = desk.upload(desk.csv((desk.payees[0].number, "3.00", "EUR", "old", "O1")))
    services.batch_approve(
        batch_id=paid.pk,
        approver=desk.checker,
        actor=Actor.for_user(desk.checker),
        otp_token=fresh_code(desk.checker),
    )
    services.batch_execute(batch_id=paid.pk)
    batch = desk.upload(
        desk.csv(
            (desk.payees[0].number, "3.00", "EUR", "old", "N1"),  # repeats the paid one
            (desk.payees[1].number, "250.00", "EUR", "rent", "N2"),
            (desk.payees[2].number, "12.50", "EUR", "fee", "N3"),
        )
    )

    page = client_of(desk.checker).get(f"/batches/{batch.pk}/").content.decode()

    assert rows_of(page) == ["1", "2", "3"]
    assert "possible duplicate of" in page and "/payments/" in page
    assert page.count('class="flag flag-new-payee"') == 2
    assert page.count('class="flag flag-largest"') == 1
    assert 'id="flag-duplicate">1<' in page and 'id="flag-new-payee">2<' in page
    assert "Approve 3 payments for a total of 265.50 EUR?" in page
    assert 'data-confirm="Approve 3 payments' in page and "approve-confirm.js" in page


def test_rows_are_searchable_filterable_and_sortable_by_amount(desk):
    batch = desk.upload(
        desk.csv(
            (desk.payees[0].number, "5.00", "EUR", "alpha", "A1"),
            (desk.payees[1].number, "50.00", "EUR", "beta", "B1"),
            (desk.payees[2].number, "0.50", "EUR", "gamma", "C1"),
        )
    )
    client = client_of(desk.checker)
    url = f"/batches/{batch.pk}/"

    assert rows_of(client.get(url, {"sort": "-amount"}).content.decode()) == ["2", "1", "3"]
    assert rows_of(client.get(url, {"sort": "amount"}).content.decode()) == ["3", "1", "2"]
    assert rows_of(client.get(url, {"q": "BETA"}).content.decode()) == ["2"]
    assert rows_of(client.get(url, {"q": "C1"}).content.decode()) == ["3"]
    # 50.00 stands out among 5.00 and 0.50 (more than BATCH_OUTLIER_FACTOR x the median)
    assert rows_of(client.get(url, {"flag": "largest", "sort": "-amount"}).content.decode()) == [
        "2"
    ]


def test_the_rows_are_paged(desk):
    rows = [
        (desk.payees[i % len(desk.payees)].number, "1.00", "EUR", f"r{i}", f"E{i}")
        for i in range(130)
    ]
    batch = desk.upload(desk.csv(*rows))
    client = client_of(desk.checker)

    first = client.get(f"/batches/{batch.pk}/").content.decode()
    next_url = re.search(r'<a rel="next" href="([^"]+)"', first).group(1).replace("&amp;", "&")
    second = client.get(f"/batches/{batch.pk}/{next_url}").content.decode()

    assert len(rows_of(first)) == 100 and rows_of(first)[0] == "1"
    assert rows_of(second) == [str(n) for n in range(101, 131)]


def test_the_page_says_why_two_approvers_are_needed_and_a_merchant_may_differ(desk, settings):
    settings.BATCH_SECOND_APPROVAL_ABOVE = 10_000
    settings.BATCH_SECOND_APPROVAL_ROW_ABOVE = 10_000
    big = desk.upload(
        desk.csv(
            (desk.payees[0].number, "6000.00", "EUR", "a", "A1"),
            (desk.payees[1].number, "6000.03", "EUR", "b", "B1"),
        )
    )
    client = client_of(desk.checker)

    page = client.get(f"/batches/{big.pk}/").content.decode()
    assert "needs 2 approvers: the total 12,000.03 EUR is above 10,000.00 EUR" in page

    Merchant.objects.filter(pk=desk.merchant.pk).update(
        second_approval_above=20_000, second_approval_row_above=5_000
    )
    page = client.get(f"/batches/{big.pk}/").content.decode()
    # Exposure per payee: one payee receives 6,000.03 EUR from the debtor that day.
    assert "needs 2 approvers: one payee receives 6,000.03 EUR from" in page
    assert "above 5,000.00 EUR" in page

    Merchant.objects.filter(pk=desk.merchant.pk).update(second_approval_row_above=7_000)
    page = client.get(f"/batches/{big.pk}/").content.decode()
    assert "needs 1 approver" in page
    assert "0 of 1" in page


def test_the_first_page_of_a_large_batch_reads_its_rows_in_order_not_all_of_them(desk):
    # Validation analyzes the rows it stored (there is no autovacuum to rely on): the first
    # page walks the (batch, row) index for 100 rows instead of sorting the whole batch.
    from django.db import connection

    from batches import selectors
    from batches.models import Batch

    rows = services.ANALYZE_FROM_ROWS
    payees = [payee.number for payee in desk.payees]
    batch = desk.upload(
        desk.csv(*((payees[i % 3], "1.00", "EUR", f"pay {i}", f"E{i}") for i in range(rows)))
    )
    batch = Batch.objects.get(pk=batch.pk)
    assert batch.valid_count == rows, batch.error_message

    sql, params = selectors.batch_rows(batch).order_by("row")[:101].query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute("SELECT reltuples FROM pg_class WHERE relname = 'batches_batchitem'")
        (known_rows,) = cursor.fetchone()
        cursor.execute("EXPLAIN " + sql, params)
        plan = "\n".join(line for (line,) in cursor.fetchall())

    assert known_rows >= rows  # the planner knows the rows (-1: never analyzed)
    assert "batch_item_row_once" in plan and "Sort" not in plan, plan
