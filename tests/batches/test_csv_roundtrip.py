"""CSV that goes round: failed.csv uploads again as it is, numbers stay numbers, the upload
page documents the columns and offers a sample that is itself a valid upload."""

from __future__ import annotations

import io

import pytest

from batches import reports, services
from batches.parsers import parse
from batches.parsers.csv_format import COLUMNS
from tests.helpers import otp_login

pytestmark = pytest.mark.django_db


def test_failed_csv_uploads_again_without_editing(desk):
    content = desk.csv(
        ("PAYEE0000", "10.00", "EUR", "paid", "E1"),
        ("PAYEE0001", "-5.00", "EUR", "negative", "E2"),
        ("NOSUCH", "7.25", "EUR", "=HYPERLINK(1)", "E3"),
    )
    first = services.batch_validate(batch_id=desk.upload(content).id)
    assert [i.error_code for i in first.items.order_by("row")] == ["", "AM02", "AC01"]

    failed = "".join(reports.failed_csv(first))

    # The amounts are the numbers that were sent; the formula is neutralised, as text.
    assert "PAYEE0001,-5.00,EUR,negative,,E2" in failed
    assert "NOSUCH,7.25,EUR,'=HYPERLINK(1),,E3" in failed
    again = services.batch_validate(batch_id=desk.upload(failed, name="failed.csv").id)
    # Uploaded again uncorrected, no row can be paid: the batch ends invalid, rows kept.
    assert again.status == "invalid" and again.error_code in ("AM02", "AC01")
    rows = [
        (i.creditor_account_number, i.amount_text, i.currency, i.end_to_end_id, i.error_code)
        for i in again.items.order_by("row")
    ]
    assert rows == [
        ("PAYEE0001", "-5.00", "EUR", "E2", "AM02"),
        ("NOSUCH", "7.25", "EUR", "E3", "AC01"),
    ]


def test_the_result_report_keeps_numbers_as_numbers(desk):
    batch = services.batch_validate(
        batch_id=desk.upload(desk.csv(("PAYEE0001", "-5.00", "EUR", "-neg", "E2"))).id
    )

    report = "".join(reports.result_csv(batch))

    assert ",-5.00,EUR,'-neg," in report


def test_the_sample_file_is_a_valid_upload_in_the_documented_columns(desk):
    sample = "".join(reports.sample_csv())

    rows = list(parse(io.BytesIO(sample.encode()), max_rows=10))

    assert [name for name, _, _ in reports.CSV_COLUMNS] == list(COLUMNS)
    assert len(rows) == 2 and all(row.problem == "" for row in rows)


def test_the_upload_page_documents_the_columns_and_offers_the_sample(desk, client):
    otp_login(client, desk.maker)

    page = client.get("/batches/upload/").content.decode()
    sample = client.get("/batches/sample.csv")

    for name in COLUMNS:
        assert f"<code>{name}</code>" in page
    assert 'href="/batches/sample.csv"' in page
    assert sample.status_code == 200
    assert (
        b"".join(sample.streaming_content)
        .decode()
        .startswith("creditor_account,amount,currency,reference,creditor_name,end_to_end_id")
    )
