"""The pain.002.001.10 status report writer, read back with lxml."""

from __future__ import annotations

import io
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from lxml import etree

from batches.pain002 import NAMESPACE, TransactionStatus, write_pain002

NS = {"p": NAMESPACE}
CREATED_AT = datetime(2026, 5, 4, 12, 30, 15, tzinfo=UTC)


def report(**overrides) -> etree._Element:
    arguments = {
        "message_id": "RPT-1",
        "created_at": CREATED_AT,
        "original_message_id": "MSG-09-0001",
        "original_message_name": "pain.001.001.09",
        "group_status": "PART",
        "original_count": 3,
        "original_control_sum": "65.50",
        "transactions": [
            TransactionStatus(
                "E2E-1", "1", "ACSC", amount="15.00", currency="EUR", creditor_account="ACC-1"
            ),
            TransactionStatus(
                "E2E-2",
                "2",
                "RJCT",
                "AC01",
                "unknown creditor account",
                amount="20.00",
                currency="EUR",
                creditor_account="ACC-404",
            ),
            TransactionStatus(
                "NOTPROVIDED", "3", "RJCT", "AM04", "insufficient funds", "30.50", "USD", "ACC-3"
            ),
        ],
    }
    arguments.update(overrides)
    out = io.BytesIO()
    write_pain002(out, **arguments)
    return etree.fromstring(out.getvalue())


def texts(element: etree._Element, path: str) -> list[str]:
    return [node.text for node in element.iterfind(path, NS)]


def local_names(element: etree._Element) -> list[str]:
    return [etree.QName(child).localname for child in element]


def test_group_header_and_original_group():
    document = report()

    assert document.tag == f"{{{NAMESPACE}}}Document"
    assert texts(document, "p:CstmrPmtStsRpt/p:GrpHdr/p:MsgId") == ["RPT-1"]
    assert texts(document, "p:CstmrPmtStsRpt/p:GrpHdr/p:CreDtTm") == ["2026-05-04T12:30:15+00:00"]
    group = document.find("p:CstmrPmtStsRpt/p:OrgnlGrpInfAndSts", NS)
    assert local_names(group) == [
        "OrgnlMsgId",
        "OrgnlMsgNmId",
        "OrgnlNbOfTxs",
        "OrgnlCtrlSum",
        "GrpSts",
    ]
    assert [child.text for child in group] == [
        "MSG-09-0001",
        "pain.001.001.09",
        "3",
        "65.50",
        "PART",
    ]


def test_each_transaction_has_its_status_and_reason():
    document = report()
    transactions = document.findall(".//p:TxInfAndSts", NS)

    assert len(transactions) == 3
    assert [texts(tx, "p:TxSts")[0] for tx in transactions] == ["ACSC", "RJCT", "RJCT"]
    assert [texts(tx, "p:StsRsnInf/p:Rsn/p:Cd") for tx in transactions] == [
        [],
        ["AC01"],
        ["AM04"],
    ]
    assert texts(transactions[1], "p:StsRsnInf/p:AddtlInf") == ["unknown creditor account"]
    assert [texts(tx, "p:OrgnlInstrId")[0] for tx in transactions] == ["1", "2", "3"]
    assert texts(transactions[2], "p:OrgnlEndToEndId") == ["NOTPROVIDED"]
    amount = transactions[2].find("p:OrgnlTxRef/p:Amt/p:InstdAmt", NS)
    assert (amount.text, amount.get("Ccy")) == ("30.50", "USD")
    assert texts(transactions[2], "p:OrgnlTxRef/p:CdtrAcct/p:Id/p:Othr/p:Id") == ["ACC-3"]


def test_elements_follow_the_schema_order():
    transaction = TransactionStatus(
        "E",
        "7",
        "RJCT",
        "AM02",
        "bad amount",
        amount="1.00",
        currency="EUR",
        creditor_account="ACC",
        reference="Invoice 7",
    )

    document = report(transactions=[transaction])

    block = document.find(".//p:OrgnlPmtInfAndSts", NS)
    assert local_names(block) == ["OrgnlPmtInfId", "TxInfAndSts"]
    tx = block.find("p:TxInfAndSts", NS)
    assert local_names(tx) == [
        "OrgnlInstrId",
        "OrgnlEndToEndId",
        "TxSts",
        "StsRsnInf",
        "OrgnlTxRef",
    ]
    assert local_names(tx.find("p:StsRsnInf", NS)) == ["Rsn", "AddtlInf"]
    assert local_names(tx.find("p:OrgnlTxRef", NS)) == ["Amt", "RmtInf", "CdtrAcct"]


def test_a_rejected_file_has_no_transaction_detail():
    def must_not_be_read() -> Iterator[TransactionStatus]:
        raise AssertionError("a rejected file's transactions were read")
        yield  # pragma: no cover

    document = report(
        group_status="RJCT",
        group_reason_code="AM18",
        group_reason_text="NbOfTxs says 4, the file holds 3 transactions",
        original_count=4,
        original_control_sum=None,
        transactions=must_not_be_read(),
    )

    group = document.find("p:CstmrPmtStsRpt/p:OrgnlGrpInfAndSts", NS)
    assert texts(group, "p:GrpSts") == ["RJCT"]
    assert texts(group, "p:StsRsnInf/p:Rsn/p:Cd") == ["AM18"]
    assert texts(group, "p:StsRsnInf/p:AddtlInf") == [
        "NbOfTxs says 4, the file holds 3 transactions"
    ]
    assert texts(group, "p:OrgnlCtrlSum") == []
    assert document.findall(".//p:OrgnlPmtInfAndSts", NS) == []
    assert document.findall(".//p:TxInfAndSts", NS) == []


def test_a_batch_with_every_row_rejected_still_lists_them():
    rows = [TransactionStatus(f"E{n}", str(n), "RJCT", "AC01", "unknown") for n in (1, 2)]

    document = report(group_status="RJCT", transactions=rows, original_count=2)

    assert texts(document, ".//p:OrgnlGrpInfAndSts/p:StsRsnInf") == []
    assert texts(document, ".//p:TxInfAndSts/p:TxSts") == ["RJCT", "RJCT"]


def test_hostile_text_round_trips_as_text():
    hostile = "<b>&amp; ]]> <![CDATA[x]]> \"quoted\" 'single' &#x41;"
    transaction = TransactionStatus(
        end_to_end_id="E<&>",
        instruction_id="1",
        status="RJCT",
        reason_code="AC01",
        reason_text=f"unknown account {hostile}",
        amount="1.00",
        currency="EUR",
        creditor_account="A&B<C>",
        reference=hostile,
    )

    document = report(
        original_message_id="M<&>]]>",
        transactions=[transaction],
        original_count=1,
    )

    tx = document.find(".//p:TxInfAndSts", NS)
    assert texts(tx, "p:OrgnlEndToEndId") == ["E<&>"]
    assert texts(tx, "p:OrgnlTxRef/p:RmtInf/p:Ustrd") == [hostile]
    assert texts(tx, "p:OrgnlTxRef/p:CdtrAcct/p:Id/p:Othr/p:Id") == ["A&B<C>"]
    assert "".join(texts(tx, "p:StsRsnInf/p:AddtlInf")) == f"unknown account {hostile}"
    assert texts(document, ".//p:OrgnlMsgId") == ["M<&>]]>"]
    assert len(document.findall(".//p:TxInfAndSts", NS)) == 1  # nothing was injected


def test_characters_xml_cannot_carry_are_replaced():
    transaction = TransactionStatus("E\x00\x01", "1", "ACSC", reference="bell\x07 \ufffe end")

    tx = report(transactions=[transaction], original_count=1).find(".//p:TxInfAndSts", NS)

    assert texts(tx, "p:OrgnlEndToEndId") == ["E\ufffd\ufffd"]
    assert texts(tx, "p:OrgnlTxRef/p:RmtInf/p:Ustrd") == ["bell\ufffd \ufffd end"]


def test_values_are_cut_to_the_schema_lengths():
    transaction = TransactionStatus(
        "E" * 50,
        "1",
        "RJCT",
        "AC01",
        "r" * 300,
        creditor_account="9" * 40,
        reference="x" * 200,
    )

    tx = report(transactions=[transaction], original_count=1).find(".//p:TxInfAndSts", NS)

    assert texts(tx, "p:OrgnlEndToEndId") == ["E" * 35]
    assert texts(tx, "p:OrgnlTxRef/p:CdtrAcct/p:Id/p:Othr/p:Id") == ["9" * 34]
    assert texts(tx, "p:OrgnlTxRef/p:RmtInf/p:Ustrd") == ["x" * 140]
    lines = texts(tx, "p:StsRsnInf/p:AddtlInf")
    assert [len(line) for line in lines] == [105, 105, 90]


@pytest.mark.parametrize(
    ("amount", "currency"),
    [("abc", "EUR"), ("-5.00", "EUR"), ("1.234567", "EUR"), ("10.00", "euro"), ("", "")],
)
def test_an_amount_the_schema_cannot_carry_is_left_out(amount, currency):
    transaction = TransactionStatus(
        "E", "1", "RJCT", "AM02", "bad amount", amount, currency, creditor_account="ACC"
    )

    tx = report(transactions=[transaction], original_count=1).find(".//p:TxInfAndSts", NS)

    assert tx.find("p:OrgnlTxRef/p:Amt", NS) is None
    assert texts(tx, "p:OrgnlTxRef/p:CdtrAcct/p:Id/p:Othr/p:Id") == ["ACC"]


def test_transactions_are_grouped_by_payment_information_block():
    rows = [
        TransactionStatus("E1", "1", "ACSC", payment_information_id="PMT-A"),
        TransactionStatus("E2", "2", "ACSC", payment_information_id="PMT-A"),
        TransactionStatus("E3", "3", "ACSC", payment_information_id="PMT-B"),
    ]
    csv_rows = [TransactionStatus("E1", "1", "ACSC")]

    blocks = report(transactions=rows).findall(".//p:OrgnlPmtInfAndSts", NS)
    csv_blocks = report(
        transactions=csv_rows, original_message_name="CSV", original_message_id="batch-42"
    ).findall(".//p:OrgnlPmtInfAndSts", NS)

    assert [texts(block, "p:OrgnlPmtInfId") for block in blocks] == [["PMT-A"], ["PMT-B"]]
    assert [len(block.findall("p:TxInfAndSts", NS)) for block in blocks] == [2, 1]
    assert [texts(block, "p:OrgnlPmtInfId") for block in csv_blocks] == [["batch-42"]]


def test_many_transactions_stream_from_a_generator():
    def rows() -> Iterator[TransactionStatus]:
        for n in range(1, 10_001):
            status = "RJCT" if n % 10 == 0 else "ACSC"
            yield TransactionStatus(f"E{n}", str(n), status, "AC01" if status == "RJCT" else "")

    document = report(transactions=rows(), original_count=10_000)

    statuses = texts(document, ".//p:TxInfAndSts/p:TxSts")
    assert len(statuses) == 10_000
    assert statuses.count("RJCT") == 1_000
    assert texts(document, ".//p:OrgnlNbOfTxs") == ["10000"]


@pytest.mark.parametrize(
    "overrides",
    [
        {"group_status": "OK"},
        {"group_reason_code": "bad code"},
        {"original_control_sum": "1e3"},
        {"transactions": [TransactionStatus("E", "1", "done")]},
        {"transactions": [TransactionStatus("E", "1", "RJCT", "nope")]},
    ],
)
def test_invalid_input_is_a_programming_error(overrides):
    with pytest.raises(ValueError, match="invalid pain.002 input"):
        report(**overrides)
