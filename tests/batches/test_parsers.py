"""Batch file parsers: CSV and pain.001 rows, every file-level refusal, and hostile XML."""

from __future__ import annotations

import gc
import io
import threading
from datetime import date
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import pytest
from lxml import etree

from batches.parsers import PARSERS, FileRejected, ParsedRow, detect, parse
from batches.parsers.csv_format import CsvParser
from batches.parsers.pain001 import Pain001Parser
from iso20022.reading import secure_iterparse

FILES = Path(__file__).parent / "files"
NS09 = "urn:iso:std:iso:20022:tech:xsd:pain.001.001.09"


def read(name: str) -> bytes:
    return (FILES / name).read_bytes()


def parse_bytes(data: bytes, *, max_rows: int = 1000):
    parsed = parse(io.BytesIO(data), max_rows=max_rows)
    return parsed.header, list(parsed)


def refusal(data: bytes, *, max_rows: int = 1000) -> FileRejected:
    with pytest.raises(FileRejected) as caught:
        parse_bytes(data, max_rows=max_rows)
    return caught.value


def pain001(
    transactions: str,
    *,
    count: str = "1",
    control_sum: str | None = None,
    group_header: str | None = None,
    block: str = "<NbOfTxs>1</NbOfTxs>",
    execution_date: str = "<ReqdExctnDt><Dt>2026-05-04</Dt></ReqdExctnDt>",
    debtor: str = "<DbtrAcct><Id><IBAN>DE89370400440532013000</IBAN></Id></DbtrAcct>",
) -> bytes:
    """A small pain.001.001.09 with one PmtInf around `transactions` (schema-valid as given)."""
    if group_header is None:
        control = f"<CtrlSum>{control_sum}</CtrlSum>" if control_sum is not None else ""
        group_header = (
            f"<MsgId>M-1</MsgId><CreDtTm>2026-05-01T10:00:00</CreDtTm>"
            f"<NbOfTxs>{count}</NbOfTxs>{control}"
        )
    return (
        f'<?xml version="1.0"?><Document xmlns="{NS09}"><CstmrCdtTrfInitn>'
        f"<GrpHdr>{group_header}<InitgPty><Nm>I</Nm></InitgPty></GrpHdr>"
        f"<PmtInf><PmtInfId>B-1</PmtInfId><PmtMtd>TRF</PmtMtd>{block}{execution_date}"
        f"<Dbtr><Nm>D</Nm></Dbtr>{debtor}"
        f"<DbtrAgt><FinInstnId><BICFI>COBADEFFXXX</BICFI></FinInstnId></DbtrAgt>"
        f"{transactions}</PmtInf>"
        f"</CstmrCdtTrfInitn></Document>"
    ).encode()


def tx(
    amount: str = '<Amt><InstdAmt Ccy="EUR">10.00</InstdAmt></Amt>',
    account: str = "<CdtrAcct><Id><Othr><Id>ACC-1</Id></Othr></Id></CdtrAcct>",
    extra: str = "",
) -> str:
    return (
        f"<CdtTrfTxInf><PmtId><EndToEndId>E</EndToEndId></PmtId>{amount}"
        f"<Cdtr><Nm>C</Nm></Cdtr>{account}{extra}</CdtTrfTxInf>"
    )


# --- CSV ----------------------------------------------------------------------------------------


def test_csv_rows_with_optional_columns_blank_lines_and_quoting():
    header, rows = parse_bytes(read("payouts.csv"))

    assert header.format == "csv"
    assert header.message_id == "" and header.declared_count is None
    assert [row.row for row in rows] == [1, 2, 3, 4]  # the blank lines are not rows
    assert rows[0] == ParsedRow(
        row=1,
        creditor_account="ACC-0001",
        amount="10.00",
        currency="EUR",
        reference="Invoice 1",
        creditor_name="Alice Ltd",
        end_to_end_id="E2E-1",
    )
    assert rows[1].reference == 'Invoice 2, part "A"'
    assert all(row.problem == "" for row in rows)
    assert all(row.debtor_account == "" and row.execution_date is None for row in rows)


def test_csv_cells_that_look_like_formulas_come_through_unchanged():
    _, rows = parse_bytes(read("payouts.csv"))

    assert rows[2].reference == '=HYPERLINK("http://evil.example")'
    assert rows[2].creditor_name == "+Carol"
    assert rows[2].end_to_end_id == "-E2E-3"
    assert rows[3].amount == "-5.00"  # validation refuses it, not the parser
    assert rows[3].reference == "@SUM(A1:A2)"


def test_csv_with_bom_header_in_any_case_and_only_required_columns():
    header, rows = parse_bytes(read("payouts_bom.csv"))

    assert header.format == "csv"
    assert [(row.creditor_account, row.amount, row.reference) for row in rows] == [
        ("ACC-0001", "1.00", "first"),
        ("ACC-0002", "2.00", ""),  # an empty reference is allowed
    ]
    assert rows[1].problem == ""
    assert rows[0].creditor_name == "" and rows[0].end_to_end_id == ""


def test_csv_quoted_cell_may_span_lines():
    data = b'creditor_account,amount,currency,reference\nA,1.00,EUR,"two\nlines"\nB,2.00,EUR,x\n'

    _, rows = parse_bytes(data)

    assert [row.reference for row in rows] == ["two\nlines", "x"]


def test_csv_parsing_leaves_the_callers_stream_open():
    stream = io.BytesIO(read("payouts.csv"))
    list(parse(stream, max_rows=10))
    unread = parse(io.BytesIO(read("payouts.csv")), max_rows=10)
    del unread
    gc.collect()

    assert not stream.closed
    stream.seek(0)
    assert stream.read(16) == b"creditor_account"


def test_django_uploaded_files_parse(settings):
    from django.core.files.uploadedfile import SimpleUploadedFile

    csv_upload = SimpleUploadedFile("payouts.csv", read("payouts.csv"))
    xml_upload = SimpleUploadedFile("pain.xml", read("pain001_09.xml"))

    assert len(list(parse(csv_upload, max_rows=10))) == 4
    assert len(list(parse(xml_upload, max_rows=10))) == 3
    assert not csv_upload.closed


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("creditor_account,amount,currency", "missing required column(s): reference"),
        ("creditor_account,amount,currency,reference,colour", "unknown column(s): colour"),
        ("creditor_account,amount,currency,reference,amount", "duplicate column(s): amount"),
        ("creditor_account,amount,currency,reference,", "column(s) 5 of the header have no name"),
        ("creditor_account;amount;currency;reference", "not separated by commas"),
        ("amount,currency,Reference,Creditor_Nme", "unknown column(s): Creditor_Nme"),
    ],
)
def test_csv_header_problems_are_refused_naming_the_columns(header, expected):
    error = refusal(f"{header}\nA,1.00,EUR,r\n".encode())

    assert error.code == "FF01"
    assert expected in error.message


def test_csv_header_problems_are_all_named_at_once():
    error = refusal(b"amount,currency,refrence\nA,1.00,EUR\n")

    assert "unknown column(s): refrence" in error.message
    assert "missing required column(s): creditor_account, reference" in error.message


@pytest.mark.parametrize(
    "data",
    [
        b"creditor_account,amount,currency,reference\n",
        b"\xef\xbb\xbfcreditor_account,amount,currency,reference\r\n\r\n\r\n",
        b"creditor_account,amount,currency,reference\n,,,\n",
    ],
)
def test_csv_with_a_header_only_has_no_transactions(data):
    error = refusal(data)

    assert (error.code, error.message) == (
        "FF01",
        "no transactions: the file holds a header row only",
    )


def test_empty_file_is_refused():
    assert refusal(b"").message == "the file is empty: no transactions"
    assert refusal(b"\n \r\n").code == "FF01"
    with pytest.raises(FileRejected, match="no header row and no transactions"):
        CsvParser().parse(io.BytesIO(b""), max_rows=10)


def test_csv_invalid_utf8_is_refused_naming_the_line():
    data = "creditor_account,amount,currency,reference\nA,1.00,EUR,ok\nB,2.00,EUR,Müller\n"

    error = refusal(data.encode("latin-1"))

    assert error.code == "FF01"
    assert error.message == "line 3 is not valid UTF-8 (byte 0xFC)"


def test_csv_invalid_utf8_inside_a_multi_line_cell_names_its_own_line():
    data = b'creditor_account,amount,currency,reference\nA,1.00,EUR,"one\ntwo\n\xff"\n'

    assert refusal(data).message == "line 4 is not valid UTF-8 (byte 0xFF)"


def test_csv_invalid_utf8_in_the_header_is_refused():
    assert refusal(b"creditor_account,amount,currency,reference\xe9\nA,1,EUR,r\n").message == (
        "line 1 is not valid UTF-8 (byte 0xE9)"
    )


def test_csv_nul_byte_is_refused_naming_the_line():
    error = refusal(b"creditor_account,amount,currency,reference\nA,1.00,EUR,r\x00x\n")

    assert error.code == "FF01"
    assert error.message == "line 2 contains a NUL byte; a CSV file must be text"


def test_csv_row_problems_leave_the_other_rows_alone():
    long_reference = "x" * 501
    data = (
        "creditor_account,amount,currency,reference\n"
        "A,1.00,EUR\n"
        "B,2.00,EUR,r,extra\n"
        f"C,3.00,EUR,{long_reference}\n"
        ",4.00,EUR,r\n"
        "E,,EUR,r\n"
        "F,6.00,,r\n"
        "G,7.00,EUR,fine\n"
    ).encode()

    _, rows = parse_bytes(data)

    assert [row.problem for row in rows] == [
        "row has 3 cells, the header has 4",
        "row has 5 cells, the header has 4",
        "reference is longer than 500 characters",
        "creditor_account is empty",
        "amount is empty",
        "currency is empty",
        "",
    ]
    assert rows[0].creditor_account == "A" and rows[0].reference == ""
    assert rows[1].reference == "r"
    assert rows[2].reference == "x" * 500
    assert rows[6].row == 7


def test_csv_a_cell_of_500_characters_is_fine():
    data = f"creditor_account,amount,currency,reference\nA,1.00,EUR,{'y' * 500}\n".encode()

    _, rows = parse_bytes(data)

    assert rows[0].problem == ""


def test_csv_over_max_rows_is_refused():
    data = b"creditor_account,amount,currency,reference\nA,1,EUR,r\nB,2,EUR,r\nC,3,EUR,r\n"

    assert len(parse_bytes(data, max_rows=3)[1]) == 3
    error = refusal(data, max_rows=2)
    assert (error.code, error.message) == (
        "FF01",
        "the file has more than 2 transactions; the limit is 2",
    )


# --- pain.001 -----------------------------------------------------------------------------------


def test_pain001_03_header_and_rows():
    header, rows = parse_bytes(read("pain001_03.xml"))

    assert header.format == "pain.001.001.03"
    assert header.message_id == "MSG-03-0001"
    assert header.declared_count == 3
    assert header.declared_control_sum == Decimal("1260.75")
    assert header.initiating_party == "Acme Payroll"
    assert rows[0] == ParsedRow(
        row=1,
        creditor_account="FR1420041010050500013M02606",
        amount="1000.00",
        currency="EUR",
        reference="Salary May",
        creditor_name="Alice Ltd",
        end_to_end_id="E2E-03-1",
        debtor_account="DE89370400440532013000",
        execution_date=date(2026, 5, 4),
        payment_information_id="PMT-03-A",
        block=1,
        instruction_id="INSTR-1",
        creditor_agent_bic="DEUTDEFFXXX",
    )
    # No RmtInf: no reference (InstrId is the sender's own, kept apart); NOTPROVIDED as is.
    assert (rows[1].creditor_account, rows[1].reference) == ("ACC-0002", "")
    assert rows[1].instruction_id == "INSTR-2"
    assert (rows[1].end_to_end_id, rows[1].creditor_name) == ("NOTPROVIDED", "Bob & Sons")
    # Several Ustrd lines are joined; values are stripped; no InstrId is fine.
    assert (rows[2].creditor_account, rows[2].reference) == ("ACC-0003", "Invoice 7 and 8")
    assert rows[2].creditor_name == ""
    assert all(row.problem == "" for row in rows)


def test_pain001_09_rows_carry_their_own_blocks_debtor_account_and_date():
    header, rows = parse_bytes(read("pain001_09.xml"))

    assert (header.format, header.message_id, header.declared_count) == (
        "pain.001.001.09",
        "MSG-09-0001",
        3,
    )
    assert header.initiating_party == "Globex Treasury"
    assert [
        (row.row, row.debtor_account, row.execution_date, row.payment_information_id)
        for row in rows
    ] == [
        (1, "NL91ABNA0417164300", date(2026, 5, 4), "PMT-09-A"),
        (2, "NL91ABNA0417164300", date(2026, 5, 4), "PMT-09-A"),
        # DtTm: the date as written, not shifted to UTC (which would be 8 May).
        (3, "GLOBEX-USD-1", date(2026, 5, 7), "PMT-09-B"),
    ]
    assert [row.creditor_account for row in rows] == [
        "NL02INGB0001234567",
        "ACC-0009",
        "ACC-0010",
    ]
    assert (rows[2].amount, rows[2].currency, rows[2].reference) == (
        "30.50",
        "USD",
        "Licence <2026>",
    )
    assert (rows[1].reference, rows[1].instruction_id) == ("", "I-2")


def test_detect_picks_the_parser_by_content():
    assert detect(read("pain001_03.xml")[:4096]).format == "pain.001.001.03"
    assert detect(read("pain001_09.xml")[:4096]).format == "pain.001.001.09"
    assert detect(read("payouts.csv")[:4096]).format == "csv"
    assert detect(read("payouts_bom.csv")[:4096]).format == "csv"
    assert [parser.format for parser in PARSERS] == [
        "pain.001.001.03",
        "pain.001.001.09",
        "csv",
    ]


def test_pain001_with_a_namespace_prefix_parses():
    data = read("pain001_09.xml").replace(b'xmlns="', b'xmlns:p="')
    data = data.replace(b"<", b"<p:").replace(b"<p:/", b"</p:").replace(b"<p:?", b"<?")

    header, rows = parse_bytes(data)

    assert header.message_id == "MSG-09-0001"
    assert len(rows) == 3


@pytest.mark.parametrize("encoding", ["UTF-16", "ISO-8859-1"])
def test_pain001_in_another_declared_encoding_parses(encoding):
    text = read("pain001_09.xml").decode().replace("Initech", "Müller")
    data = text.replace('encoding="UTF-8"', f'encoding="{encoding}"').encode(encoding)

    _, rows = parse_bytes(data)

    assert rows[0].creditor_name == "Müller"


def test_pain001_rows_stream_before_a_count_mismatch_at_the_end():
    data = read("pain001_09.xml").replace(b"<NbOfTxs>3</NbOfTxs>", b"<NbOfTxs>4</NbOfTxs>")
    seen = []

    with pytest.raises(FileRejected) as caught:
        for row in parse(io.BytesIO(data), max_rows=10):
            seen.append(row.row)

    assert seen == [1, 2, 3]
    assert caught.value.code == "AM18"
    assert caught.value.message == "NbOfTxs says 4, the file holds 3 transactions"


def test_pain001_control_sum_mismatch_is_am10():
    data = read("pain001_09.xml").replace(
        b"<CtrlSum>65.50</CtrlSum>", b"<CtrlSum>65.5001</CtrlSum>"
    )

    error = refusal(data)

    assert error.code == "AM10"
    assert error.message == "CtrlSum says 65.5001, the amounts add up to 65.50"


def test_pain001_control_sum_is_compared_exactly_not_as_floats():
    transactions = tx(amount='<Amt><InstdAmt Ccy="EUR">0.10</InstdAmt></Amt>') * 3
    data = pain001(transactions, count="3", control_sum="0.3", block="")

    header, rows = parse_bytes(data)

    assert header.declared_control_sum == Decimal("0.3")
    assert len(rows) == 3


def test_pain001_block_count_and_control_sum_are_checked():
    wrong_count = read("pain001_09.xml").replace(b"<NbOfTxs>1</NbOfTxs>", b"<NbOfTxs>2</NbOfTxs>")
    wrong_sum = read("pain001_09.xml").replace(
        b"<CtrlSum>30.50</CtrlSum>", b"<CtrlSum>30</CtrlSum>"
    )

    error = refusal(wrong_count)
    assert error.code == "AM18"
    assert error.message == "PmtInf 'PMT-09-B': NbOfTxs says 2, the block holds 1 transactions"
    error = refusal(wrong_sum)
    assert error.code == "AM10"
    assert error.message == "PmtInf 'PMT-09-B': CtrlSum says 30, the amounts add up to 30.50"


def test_pain001_amount_that_is_not_a_decimal_is_refused_by_the_schema():
    transactions = tx() + tx(amount='<Amt><InstdAmt Ccy="EUR">1O.00</InstdAmt></Amt>')

    error = refusal(pain001(transactions, count="2", control_sum="10.00", block=""))

    assert error.code == "FF01"
    assert error.message == (
        "not a valid pain.001.001.09 file: line 1: Element 'InstdAmt': '1O.00' is not a valid"
        " value of the atomic type 'ActiveOrHistoricCurrencyAndAmount_SimpleType'."
    )


@pytest.mark.parametrize(
    ("group_header", "expected"),
    [
        (
            "<CreDtTm>2026-05-01T10:00:00</CreDtTm><NbOfTxs>1</NbOfTxs>",
            "not a valid pain.001.001.09 file: line 1: Element 'CreDtTm': This element is not"
            " expected. Expected is ( MsgId ).",
        ),
        # Blank is not empty for the schema (Max35Text is 1 character at least): ours says so.
        (
            "<MsgId>  </MsgId><CreDtTm>2026-05-01T10:00:00</CreDtTm><NbOfTxs>1</NbOfTxs>",
            "GrpHdr/MsgId is missing",
        ),
        (
            "<MsgId>M</MsgId><CreDtTm>2026-05-01T10:00:00</CreDtTm>",
            "not a valid pain.001.001.09 file: line 1: Element 'InitgPty': This element is not"
            " expected. Expected is one of ( Authstn, NbOfTxs ).",
        ),
        (
            "<MsgId>M</MsgId><CreDtTm>2026-05-01T10:00:00</CreDtTm><NbOfTxs>one</NbOfTxs>",
            "not a valid pain.001.001.09 file: line 1: Element 'NbOfTxs': [facet 'pattern'] The"
            " value 'one' is not accepted by the pattern '[0-9]{1,15}'.",
        ),
        (
            "<MsgId>M</MsgId><CreDtTm>2026-05-01T10:00:00</CreDtTm><NbOfTxs>1</NbOfTxs>"
            "<CtrlSum>1e1</CtrlSum>",
            "not a valid pain.001.001.09 file: line 1: Element 'CtrlSum': '1e1' is not a valid"
            " value of the atomic type 'DecimalNumber'.",
        ),
    ],
)
def test_pain001_group_header_problems_are_ff01(group_header, expected):
    error = refusal(pain001(tx(), group_header=group_header))

    assert (error.code, error.message) == ("FF01", expected)


def test_pain001_without_transactions_is_ff01():
    data = (
        f'<Document xmlns="{NS09}"><CstmrCdtTrfInitn><GrpHdr><MsgId>M</MsgId>'
        f"<CreDtTm>2026-05-01T10:00:00</CreDtTm><NbOfTxs>0</NbOfTxs>"
        f"<InitgPty><Nm>I</Nm></InitgPty></GrpHdr>"
        f"</CstmrCdtTrfInitn></Document>"
    ).encode()

    error = refusal(data)

    assert (error.code, error.message) == (
        "FF01",
        "not a valid pain.001.001.09 file: line 1: Element 'CstmrCdtTrfInitn': Missing child"
        " element(s). Expected is ( PmtInf ).",
    )


def test_pain001_without_group_header_is_ff01():
    data = f'<Document xmlns="{NS09}"><CstmrCdtTrfInitn/></Document>'.encode()

    assert refusal(data).message == (
        "not a valid pain.001.001.09 file: line 1: Element 'CstmrCdtTrfInitn': Missing child"
        " element(s). Expected is ( GrpHdr )."
    )


@pytest.mark.parametrize(
    ("data", "line"),
    [
        (read("pain001_09.xml").replace(b"</Cdtr>", b"</Cdtor>", 1), 23),
        (read("pain001_09.xml")[:1500], 38),
        (read("pain001_09.xml").replace(b"Order 1001", b"Order &1001;"), 25),
    ],
)
def test_malformed_pain001_is_ff01_with_the_line(data, line):
    error = refusal(data)

    assert error.code == "FF01"
    assert error.message.startswith(f"malformed XML on line {line}: ")


@pytest.mark.parametrize("name", ["pain001_09.xml", "pain001_03.xml"])
@pytest.mark.parametrize("cut", ["</CdtTrfTxInf>", "</PmtInf>", "</CstmrCdtTrfInitn>", "</Docum"])
def test_a_pain001_cut_short_anywhere_is_malformed(name, cut):
    # Validating against the schema, libxml2 2.14 ends a cut-short file without an error and
    # closes every open element itself, the root included: the file must still be refused.
    whole = read(name)
    data = whole[: whole.rindex(cut.encode()) + len(cut)]

    error = refusal(data)

    assert error.code == "FF01"
    assert error.message.startswith("malformed XML"), error.message


def test_a_pain001_may_end_with_a_comment_after_its_root():
    header, rows = parse_bytes(read("pain001_09.xml").rstrip() + b"\n<!-- end of file -->\n")

    assert header.declared_count == len(rows)


def test_pain001_row_problems():
    # What the schema allows but a payment cannot do with: no creditor account (CdtrAcct is
    # optional in both versions), a structured reference whose check digit is wrong.
    qr = (
        "<RmtInf><Strd><CdtrRefInf><Tp><CdOrPrtry><Prtry>QRR</Prtry></CdOrPrtry></Tp>"
        "<Ref>210000000003139471430009018</Ref></CdtrRefInf></Strd></RmtInf>"
    )
    transactions = tx(account="") + tx(extra=qr) + tx()

    _, rows = parse_bytes(pain001(transactions, count="3", block=""))

    assert [row.problem for row in rows] == [
        "no creditor account (CdtrAcct/Id/IBAN or CdtrAcct/Id/Othr/Id)",
        "QR reference '210000000003139471430009018' is not 27 digits with a valid check digit",
        "",
    ]


@pytest.mark.parametrize(
    ("transaction", "expected"),
    [
        (tx(amount=""), "Element 'Cdtr': This element is not expected. Expected is one of"),
        (
            tx(amount="<Amt><InstdAmt>5.00</InstdAmt></Amt>"),
            "Element 'InstdAmt': The attribute 'Ccy' is required but missing.",
        ),
        (
            tx(extra=f"<RmtInf><Ustrd>{'z' * 141}</Ustrd></RmtInf>"),
            "Element 'Ustrd': [facet 'maxLength'] The value has a length of '141'",
        ),
    ],
)
def test_pain001_transactions_the_schema_refuses(transaction, expected):
    error = refusal(pain001(transaction, block=""))

    assert error.code == "FF01"
    assert error.message.startswith("not a valid pain.001.001.09 file: line 1: ")
    assert expected in error.message


@pytest.mark.parametrize(
    ("block", "expected"),
    [
        (
            {"debtor": ""},
            "Element 'DbtrAgt': This element is not expected. Expected is ( DbtrAcct ).",
        ),
        ({"execution_date": ""}, "Element 'Dbtr': This element is not expected."),
        (
            {"execution_date": "<ReqdExctnDt>2026-05-04</ReqdExctnDt>"},
            "Element 'ReqdExctnDt': Character content other than whitespace is not allowed",
        ),
        (
            {"execution_date": "<ReqdExctnDt><Dt>2026-02-30</Dt></ReqdExctnDt>"},
            "Element 'Dt': '2026-02-30' is not a valid value of the atomic type 'ISODate'.",
        ),
        (
            {"execution_date": "<ReqdExctnDt><DtTm>2026-05-04</DtTm></ReqdExctnDt>"},
            "Element 'DtTm': '2026-05-04' is not a valid value of the atomic type 'ISODateTime'.",
        ),
        ({"block": "<NbOfTxs>x</NbOfTxs>"}, "Element 'NbOfTxs': [facet 'pattern'] The value 'x'"),
    ],
)
def test_pain001_block_problems_are_ff01(block, expected):
    error = refusal(pain001(tx(), **block))

    assert error.code == "FF01"
    assert error.message.startswith("not a valid pain.001.001.09 file: line 1: ")
    assert expected in error.message


def test_pain001_03_date_is_plain_text():
    data = read("pain001_03.xml").replace(b"2026-05-04", b"<Dt>2026-05-04</Dt>")

    error = refusal(data)

    assert error.message == (
        "not a valid pain.001.001.03 file: line 17: Element 'ReqdExctnDt': Element content is"
        " not allowed, because the type definition is simple."
    )


def test_pain001_block_without_transactions_is_ff01():
    data = pain001(tx()).replace(
        b"</PmtInf>", b"</PmtInf><PmtInf><PmtInfId>B-2</PmtInfId></PmtInf>"
    )

    assert refusal(data).message == (
        "not a valid pain.001.001.09 file: line 1: Element 'PmtInf': Missing child element(s)."
        " Expected is ( PmtMtd )."
    )


def test_pain001_over_max_rows_is_refused_before_or_while_streaming():
    declared = refusal(read("pain001_09.xml"), max_rows=2)
    assert (declared.code, declared.message) == (
        "FF01",
        "the file declares 3 transactions (GrpHdr/NbOfTxs); the limit is 2",
    )
    # A file that understates NbOfTxs is stopped at the row past the limit.
    understated = read("pain001_09.xml").replace(b"<NbOfTxs>3</NbOfTxs>", b"<NbOfTxs>1</NbOfTxs>")
    error = refusal(understated, max_rows=2)
    assert (error.code, error.message) == (
        "FF01",
        "the file has more than 2 transactions; the limit is 2",
    )


def test_pain001_many_transactions_stream_through_several_blocks():
    blocks = []
    for block in range(4):
        transactions = "".join(
            tx(amount=f'<Amt><InstdAmt Ccy="EUR">{n}.01</InstdAmt></Amt>') for n in range(2500)
        )
        blocks.append(
            f"<PmtInf><PmtInfId>B{block}</PmtInfId><PmtMtd>TRF</PmtMtd><NbOfTxs>2500</NbOfTxs>"
            f"<ReqdExctnDt><Dt>2026-06-0{block + 1}</Dt></ReqdExctnDt><Dbtr><Nm>D</Nm></Dbtr>"
            f"<DbtrAcct><Id><Othr><Id>DEBTOR-{block}</Id></Othr></Id></DbtrAcct>"
            f"<DbtrAgt><FinInstnId><BICFI>COBADEFFXXX</BICFI></FinInstnId></DbtrAgt>"
            f"{transactions}</PmtInf>"
        )
    total = 4 * sum(Decimal(f"{n}.01") for n in range(2500))
    data = (
        f'<Document xmlns="{NS09}"><CstmrCdtTrfInitn><GrpHdr><MsgId>BIG</MsgId>'
        f"<CreDtTm>2026-05-01T10:00:00</CreDtTm><NbOfTxs>10000</NbOfTxs>"
        f"<CtrlSum>{total}</CtrlSum><InitgPty><Nm>I</Nm></InitgPty></GrpHdr>{''.join(blocks)}"
        f"</CstmrCdtTrfInitn></Document>"
    ).encode()

    _, rows = parse_bytes(data, max_rows=10_000)

    assert len(rows) == 10_000
    assert rows[-1].row == 10_000
    assert [rows[i].debtor_account for i in (0, 2499, 2500, 9999)] == [
        "DEBTOR-0",
        "DEBTOR-0",
        "DEBTOR-1",
        "DEBTOR-3",
    ]
    assert rows[9999].execution_date == date(2026, 6, 4)


def test_a_parsed_file_streams_once():
    parsed = parse(io.BytesIO(read("payouts.csv")), max_rows=10)
    list(parsed)

    with pytest.raises(RuntimeError):
        iter(parsed)


# --- files nobody claims ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b"", "the file is empty: no transactions"),
        (b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj", "the file is a PDF document"),
        (b"PK\x03\x04\x14\x00\x06\x00", "the file is a spreadsheet or an archive"),
        (
            b'<?xml version="1.0"?>\n<Document xmlns="urn:iso:std:iso:20022:tech:xsd:'
            b'pain.001.001.12">',
            "pain.001.001.12 is not supported; send pain.001.001.03 or pain.001.001.09",
        ),
        (
            b'<Document xmlns="urn:iso:std:iso:20022:tech:xsd:pain.008.001.08"><CstmrDrctDbtInitn>',
            "the XML file (Document, pain.008.001.08) is not a pain.001 credit transfer initiation",
        ),
        (b"<html><body>hello</body></html>", "the XML file (html, no namespace) is not a pain.001"),
        (
            f'<CstmrCdtTrfInitn xmlns="{NS09}">'.encode(),
            "a pain.001.001.09 file must start with Document, not CstmrCdtTrfInitn",
        ),
        ("creditor_account,amount".encode("utf-16"), "the file is UTF-16 text"),
        (b"\x89PNG\r\n\x1a\n\x00\x00", "the file is not UTF-8 text"),
        (
            b"12345,10.00,EUR,ref\n",
            "the file is neither pain.001 nor a CSV with a header row naming"
            " creditor_account,amount,currency,reference (optional: creditor_name,end_to_end_id,"
            " the creditor's address in creditor_street, creditor_town...);"
            " its first line is '12345,10.00,EUR,ref'",
        ),
    ],
)
def test_files_nobody_claims_are_ff01_with_a_clear_message(data, expected):
    with pytest.raises(FileRejected) as caught:
        detect(data)

    assert caught.value.code == "FF01"
    assert caught.value.message.startswith(expected)


@pytest.mark.parametrize(
    "head",
    [
        b"<a" + b" " * 4094,
        b"<" + b"a" * 4095,
        b"<" + b"a:" * 2047,
        b"<a " + b"xmlns = " * 500,
        b"<!--" + b"-" * 4092,
    ],
)
def test_a_pathological_head_is_answered_at_once(head):
    # No timing assertion: a pattern that backtracks would make this test hang for minutes.
    with pytest.raises(FileRejected) as caught:
        detect(head)

    assert caught.value.message == "no XML root element in the first 4 KiB of the file"


# --- hostile XML --------------------------------------------------------------------------------


@pytest.fixture
def hostile(tmp_path):
    """The hostile files, and the requests a local HTTP server got while a test ran.

    The external DTDs point either at that server or at a local copy of evil.dtd, which
    defines an entity that reads /etc/passwd.
    """
    requests: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 (the http.server API)
            requests.append(self.path)
            body = read("evil.dtd")
            self.send_response(200)
            self.send_header("Content-Type", "application/xml-dtd")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    (tmp_path / "evil.dtd").write_bytes(read("evil.dtd"))
    http = f"http://127.0.0.1:{server.server_port}".encode()
    local = tmp_path.as_uri().encode()
    files = {
        "billion laughs": read("billion_laughs.xml"),
        "external entity": read("xxe_passwd.xml"),
        "external DTD over http": read("external_dtd.xml").replace(b"__URL__", http),
        "external DTD in a local file": read("external_dtd.xml").replace(b"__URL__", local),
        "parameter entity over http": read("parameter_entity.xml").replace(b"__URL__", http),
        "parameter entity in a local file": read("parameter_entity.xml").replace(b"__URL__", local),
        "DTD after a comment and a PI": read("xxe_passwd.xml").replace(
            b"<!DOCTYPE", b"<!-- hi --><?pi x?>\n<!DOCTYPE"
        ),
    }
    yield files, requests
    server.shutdown()
    server.server_close()


HOSTILE = [
    "billion laughs",
    "external entity",
    "external DTD over http",
    "external DTD in a local file",
    "parameter entity over http",
    "parameter entity in a local file",
    "DTD after a comment and a PI",
]


@pytest.mark.parametrize("name", HOSTILE)
def test_hostile_xml_is_refused_before_parsing(hostile, name):
    files, requests = hostile
    data = files[name]

    error = refusal(data)
    # Called directly, without detect, the parser refuses it too.
    with pytest.raises(FileRejected) as direct:
        list(
            Pain001Parser("pain.001.001.09", execution_date_wrapped=True).parse(
                io.BytesIO(data), max_rows=10
            )
        )

    assert (error.code, error.message) == ("FF01", "DTDs and entities are not allowed")
    assert (direct.value.code, direct.value.message) == (error.code, error.message)
    assert "root:" not in str(error) and "root:" not in str(direct.value)
    assert requests == []


@pytest.mark.parametrize("name", HOSTILE)
def test_the_xml_options_alone_expand_and_fetch_nothing(hostile, name):
    # The second lock: even if the DTD check were bypassed, libxml2 is told not to expand
    # entities, load DTDs or touch the network.
    files, requests = hostile
    namespaces = (NS09, NS09.replace(".09", ".03"))
    tags = tuple(f"{{{ns}}}{tag}" for ns in namespaces for tag in ("MsgId", "Nm", "Ustrd"))
    texts = []

    try:
        for _, element in secure_iterparse(io.BytesIO(files[name]), tags):
            texts.append("".join(element.itertext()))
    except etree.XMLSyntaxError:
        pass

    assert not any("root:" in text for text in texts)
    assert sum(len(text) for text in texts) < 1000
    assert requests == []


def test_the_hostile_files_would_do_harm_to_a_careless_parser(hostile):
    # Proves the two tests above can fail: parsed carelessly, the same files read /etc/passwd.
    # (This lxml's libxml2 has no HTTP client, so the http variants fail closed here; the
    # server is there for a build that has one.)
    files, _ = hostile
    careless = etree.XMLParser(resolve_entities=True, load_dtd=True, no_network=False)

    for name in ("external entity", "parameter entity in a local file"):
        document = etree.fromstring(files[name], careless)
        assert "root:" in "".join(document.itertext()), name
