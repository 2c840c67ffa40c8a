"""pain.001 files in the shapes banks receive (Swiss SPS, EPC SEPA, a treasury's multi-currency
file): every field an ERP reconciles on is read, kept on the row, shown and returned by the API.

The files in files/ were written for these tests from the ISO 20022 message definitions, the
Swiss Payment Standards and the EPC SCT rulebook; each validates against its official XSD.
"""

from __future__ import annotations

import io
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

import pytest

from batches import services
from batches.parsers import FileRejected, parse
from batches.parsers.references import creditor_reference_is_valid, qr_reference_is_valid
from iso20022 import schemas
from tests.factories import AccountFactory, fund

FILES = Path(__file__).parent / "files"


def parse_file(name: str):
    parsed = parse(io.BytesIO((FILES / name).read_bytes()), max_rows=1000)
    return parsed.header, list(parsed)


def test_swiss_file_with_two_debtors_qr_and_rf_references():
    header, rows = parse_file("sps_qr_two_debtors.xml")

    assert (header.message_id, header.created_at) == (
        "SPS-20260504-0001",
        "2026-05-04T08:15:30.123+02:00",
    )
    assert (header.declared_count, header.declared_control_sum_text) == (3, "4460.40")
    assert [(r.block, r.payment_information_id, r.debtor_account) for r in rows] == [
        (1, "PMTINF-CHF-1", "CH9300762011623852957"),
        (1, "PMTINF-CHF-1", "CH9300762011623852957"),
        (2, "PMTINF-EUR-2", "CH5604835012345678009"),
    ]
    qr, scor, sepa = rows
    assert (qr.instruction_id, qr.end_to_end_id, qr.uetr) == (
        "INSTR-CHF-1",
        "E2E-QRR-1",
        "8a562c67-ca16-48ba-b074-65581be6f011",
    )
    assert (qr.creditor_reference_type, qr.creditor_reference) == (
        "QRR",
        "210000000003139471430009017",
    )
    # With no Ustrd the structured reference is the payment's reference.
    assert qr.reference == "210000000003139471430009017"
    assert (qr.creditor_name, qr.creditor_agent_bic) == ("Robert Schneider AG", "")
    assert qr.ultimate_debtor == "Muster Holding AG"  # inherited from its PmtInf
    assert (qr.execution_date, qr.execution_datetime) == (date(2026, 5, 6), None)
    assert (scor.creditor_reference_type, scor.creditor_reference) == ("SCOR", "RF18539007547034")
    assert (scor.creditor_agent_bic, scor.ultimate_creditor) == (
        "POFICHBEXXX",
        "Rutschmann Immobilien",
    )
    assert scor.uetr == ""
    # The transaction's own UltmtDbtr wins over the block's (there is none on block 2 anyway).
    assert sepa.ultimate_debtor == "Muster Filiale Basel"
    assert (sepa.amount, sepa.currency, sepa.transfer_currency) == ("310.70", "EUR", "")
    assert sepa.execution_date == date(2026, 5, 7)
    assert sepa.execution_datetime == datetime(
        2026, 5, 7, 10, 0, tzinfo=timezone(timedelta(hours=2))
    )
    assert (sepa.reference, sepa.creditor_agent_bic) == ("Rechnung 2026-117", "COBADEFFXXX")
    assert all(row.problem == "" for row in rows)


def test_sepa_file_without_instrid_keeps_it_empty_and_reads_bic_of_03():
    header, rows = parse_file("epc_sct_no_instrid.xml")

    assert header.format == "pain.001.001.03"
    assert header.declared_control_sum == Decimal("1535.5")
    assert header.declared_control_sum_text == "1535.5"
    assert [row.instruction_id for row in rows] == ["", ""]
    assert [row.end_to_end_id for row in rows] == ["RE-2026-0042", "NOTPROVIDED"]
    assert rows[0].creditor_agent_bic == "INGDDEFFXXX"  # BIC in .03, BICFI in .09
    assert (rows[0].creditor_reference_type, rows[0].creditor_reference) == ("SCOR", "RF712348231")
    assert [row.ultimate_debtor for row in rows] == ["Stadtwerke Beispiel Netz GmbH"] * 2
    assert (rows[1].ultimate_creditor, rows[1].reference) == (
        "Schmidt Hausverwaltung",
        "Erstattung Kaution Whg 3",
    )


def test_equivalent_amounts_are_read_with_their_currency_of_transfer():
    header, rows = parse_file("multi_currency_eqvt.xml")

    assert header.declared_control_sum_text == "120115.50"
    assert [(r.amount, r.currency, r.transfer_currency) for r in rows] == [
        ("120000", "JPY", ""),
        ("15.50", "EUR", "EUR"),
        ("100.00", "EUR", "USD"),
    ]
    assert all(row.problem == "" for row in rows)


@pytest.mark.parametrize(
    ("reference", "valid"),
    [
        ("210000000003139471430009017", True),  # the SIX QR-bill sample
        ("210000000003139471430009018", False),  # one digit off
        ("21000000000313947143000901", False),  # 26 digits
    ],
)
def test_qr_reference_check_digit(reference, valid):
    assert qr_reference_is_valid(reference) is valid


@pytest.mark.parametrize(
    ("reference", "valid"),
    [("RF18539007547034", True), ("RF712348231", True), ("RF18539007547035", False)],
)
def test_iso_11649_creditor_reference(reference, valid):
    assert creditor_reference_is_valid(reference) is valid


def test_a_wrong_qr_reference_makes_the_row_invalid():
    data = (FILES / "sps_qr_two_debtors.xml").read_bytes()
    data = data.replace(b"210000000003139471430009017", b"210000000003139471430009018")

    rows = list(parse(io.BytesIO(data), max_rows=10))

    assert "QR reference '210000000003139471430009018'" in rows[0].problem
    assert rows[1].problem == "" and rows[2].problem == ""


# --- through validation, the batch page and the API -----------------------------------------


@pytest.fixture
def treasury(desk):
    """The accounts of multi_currency_eqvt.xml: two debtors of the merchant and three payees."""
    jpy = AccountFactory(merchant=desk.merchant, currency="JPY", number="GLOBEX-JPY-1")
    eur = AccountFactory(merchant=desk.merchant, currency="EUR", number="NL91ABNA0417164300")
    fund(jpy, 10_000_000)
    fund(eur, 1_000_000)
    AccountFactory(merchant=None, currency="JPY", number="KAISHA-JPY")
    AccountFactory(merchant=None, currency="EUR", number="NL02INGB0001234567")
    AccountFactory(merchant=None, currency="USD", number="HOOLI-USD")
    return desk


@pytest.mark.django_db
def test_validation_keeps_every_field_and_refuses_a_conversion(treasury):
    batch = treasury.upload(
        (FILES / "multi_currency_eqvt.xml").read_bytes(), name="mc.xml", debtor_account_number=""
    )
    batch = services.batch_validate(batch_id=batch.id)

    assert batch.status == "awaiting_approval", batch.error_message
    assert (batch.message_created_at, batch.declared_count, batch.declared_control_sum) == (
        "2026-05-04T11:59:59Z",
        3,
        "120115.50",
    )
    items = list(batch.items.order_by("row"))
    assert [(i.block, i.instruction_id, i.status, i.error_code) for i in items] == [
        (1, "MC-1", "valid", ""),
        (2, "MC-2", "valid", ""),
        (2, "MC-3", "invalid", "AM03"),
    ]
    assert items[0].amount == 120000 and items[1].amount == 1550
    assert items[1].transfer_currency == "EUR"
    assert "transferred in USD" in items[2].error_message


@pytest.fixture
def swiss(desk):
    debtors = [
        AccountFactory(merchant=desk.merchant, currency="CHF", number="CH9300762011623852957"),
        AccountFactory(merchant=desk.merchant, currency="EUR", number="CH5604835012345678009"),
    ]
    for account in debtors:
        fund(account, 1_000_000)
    for number, currency in (
        ("CH4431999123000889012", "CHF"),
        ("CH5800791123000889012", "CHF"),
        ("DE89370400440532013000", "EUR"),
    ):
        AccountFactory(merchant=None, currency=currency, number=number)
    return desk


@pytest.mark.django_db
def test_the_api_items_and_the_batch_page_carry_the_file_fields(swiss, client):
    from rest_framework.test import APIClient

    from accounts.identity.audit import Actor
    from payments import api_keys
    from tests.helpers import otp_login

    batch = swiss.upload(
        (FILES / "sps_qr_two_debtors.xml").read_bytes(), name="sps.xml", debtor_account_number=""
    )
    batch = services.batch_validate(batch_id=batch.id)
    assert batch.valid_count == 3, batch.error_message
    _, key = api_keys.api_key_create(merchant=swiss.merchant, name="t", actor=Actor.system("t"))
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")

    items = api.get(f"/api/v1/batches/{batch.id}/items/").json()["results"]

    first = items[0]
    assert {k: first[k] for k in ("instruction_id", "payment_information_id", "uetr")} == {
        "instruction_id": "INSTR-CHF-1",
        "payment_information_id": "PMTINF-CHF-1",
        "uetr": "8a562c67-ca16-48ba-b074-65581be6f011",
    }
    assert (first["creditor_reference_type"], first["creditor_reference"]) == (
        "QRR",
        "210000000003139471430009017",
    )
    assert (first["ultimate_debtor"], first["debtor_account"]) == (
        "Muster Holding AG",
        "CH9300762011623852957",
    )
    assert items[1]["creditor_agent_bic"] == "POFICHBEXXX"
    assert items[1]["ultimate_creditor"] == "Rutschmann Immobilien"
    assert items[2]["execution_date"] == "2026-05-07"
    assert items[2]["execution_datetime"] == "2026-05-07T08:00:00Z"

    otp_login(client, swiss.checker)
    page = client.get(f"/batches/{batch.id}/").content.decode()
    for shown in (
        "INSTR-CHF-1",
        "8a562c67-ca16-48ba-b074-65581be6f011",
        "QRR 210000000003139471430009017",
        "POFICHBEXXX",
        "Rutschmann Immobilien",
        "Muster Filiale Basel",
        "2026-05-04T08:15:30.123+02:00",
    ):
        assert shown in page, shown


# --- the official XSD, checked while streaming ----------------------------------------------


def test_a_schema_error_refuses_the_file_with_its_line_and_the_schemas_message():
    data = (FILES / "sps_qr_two_debtors.xml").read_bytes()
    lines = data.split(b"\n")
    line = next(n for n, text in enumerate(lines, 1) if b"INSTR-CHF-2" in text)
    # An InstrId longer than Max35Text, in the second transaction.
    data = data.replace(b"INSTR-CHF-2", b"I" * 36)

    with pytest.raises(FileRejected) as caught:
        list(parse(io.BytesIO(data), max_rows=10))

    assert caught.value.code == "FF01"
    assert caught.value.message == (
        f"not a valid pain.001.001.09 file: line {line}: Element 'InstrId': [facet 'maxLength']"
        " The value has a length of '36'; this exceeds the allowed maximum length of '35'."
    )


def test_each_version_is_checked_against_its_own_schema():
    # BICFI is .09's name; a .03 file must say BIC.
    data = (FILES / "epc_sct_no_instrid.xml").read_bytes().replace(b"BIC>", b"BICFI>")

    with pytest.raises(FileRejected) as caught:
        list(parse(io.BytesIO(data), max_rows=10))

    assert caught.value.message.startswith("not a valid pain.001.001.03 file: line 24: ")
    assert "Element 'BICFI': This element is not expected." in caught.value.message


def test_the_schemas_come_from_the_installed_packages():
    assert schemas.schema_path("pain.001.001.03").parts[-3:] == (
        "sepaxml",
        "schemas",
        "pain.001.001.03.xsd",
    )
    assert "site-packages" in str(schemas.schema_path("pain.001.001.09"))
    for message in schemas.SOURCES:
        assert schemas.schema(message) is not None


@pytest.mark.django_db
def test_the_totals_counted_at_validation_are_the_rows_totals(swiss):
    # The batch page and the approval rule read the totals counted once at validation; they
    # must be what the rows themselves add up to, per debtor account and per currency.
    from batches import selectors

    batch = swiss.upload(
        (FILES / "sps_qr_two_debtors.xml").read_bytes(), name="sps.xml", debtor_account_number=""
    )
    batch = services.batch_validate(batch_id=batch.id)
    assert batch.valid_count == 3, batch.error_message
    assert len(batch.valid_totals) == 2

    counted = (
        selectors.totals_by_currency(batch),
        selectors.totals_by_debtor(batch),
        selectors._largest_by_currency(batch),
    )
    batch.valid_totals = []  # as a batch validated before they were kept: the rows are read
    assert counted == (
        selectors.totals_by_currency(batch),
        selectors.totals_by_debtor(batch),
        selectors._largest_by_currency(batch),
    )
    assert counted[0] == {"CHF": 414970, "EUR": 31070}
