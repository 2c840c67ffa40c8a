"""Every search the admin and the dashboard offer is served by indexes: with enough rows
that the planner prefers an index where one applies, no query of these pages reads the
payments or the ledger entries table sequentially (EXPLAIN of each query they run)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from accounts.models import Account, LedgerEntry, LedgerTransaction
from payments.models import Payment
from tests.factories import UserFactory
from tests.helpers import make_operator, otp_login
from tools import volume

pytestmark = pytest.mark.django_db

BIG_TABLES = ("payments_payment", "accounts_ledgerentry")
SEEDED = 30_000


@pytest.fixture
def seeded(db):
    volume.seed(payments=SEEDED)
    return Payment.objects.filter(batch_id__isnull=True, status="completed").order_by("pk")[500]


def _sequential_scans(sql: str) -> list[str]:
    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN " + sql)
        plan = "\n".join(row[0] for row in cursor.fetchall())
    return [
        line.strip()
        for line in plan.splitlines()
        if "Seq Scan on" in line and any(f"Seq Scan on {table}" in line for table in BIG_TABLES)
    ]


def _assert_indexed(client, url: str, params: dict[str, str]) -> None:
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url, params)
    assert response.status_code == 200, (url, params)
    examined = 0
    for query in queries.captured_queries:
        sql = query["sql"]
        if not sql.lstrip().upper().startswith("SELECT"):
            continue
        if not any(table in sql for table in BIG_TABLES):
            continue
        examined += 1
        assert not _sequential_scans(sql), f"{url} {params}: {sql}"
    assert examined, f"{url} {params} read neither big table"


def test_no_search_reads_a_big_table_sequentially(client, seeded):
    payment = seeded
    busy = Account.objects.filter(merchant__isnull=False).order_by("-entries__id").first()
    payee = payment.creditor_account
    txn = LedgerTransaction.objects.get(pk=payment.ledger_transaction_id)
    entry = LedgerEntry.objects.filter(transaction=txn).first()
    assert busy is not None and entry is not None
    day = timezone.localdate(payment.created_at)
    week_ago = (timezone.localdate() - timedelta(days=7)).isoformat()
    pid = str(payment.pk)
    fragment = payment.reference[-9:]  # the end of an invoice number
    e2e_fragment = payment.end_to_end_id[-8:].lower()

    otp_login(client, UserFactory(username="backoffice", is_staff=True, is_superuser=True))
    payments = reverse("admin:payments_payment_changelist")
    for params in [
        {},
        {"q": fragment},
        {"q": fragment.lower()},
        {"q": "order 1002"},
        {"q": pid},
        {"q": pid[:8]},
        {"q": pid[:12] + "…"},
        {"q": e2e_fragment},
        {"q": payee.number},
        {"q": "123.45"},
        {"status__exact": "failed"},
        {"status__exact": "created"},
        {"currency": "JPY"},
        {"currency": "SEK", "status__exact": "refunded"},
        {"merchant__id__exact": str(payment.merchant_id)},
        {"created_at_from": day.isoformat(), "created_at_to": day.isoformat()},
        {"created_at__gte": week_ago},
        {"amount_min": "1000", "amount_max": "1200", "currency": "EUR"},
        {"account_number": payee.number},
        {"failure_code": "account_frozen"},
        {"status__exact": "completed", "created_at_from": day.isoformat(), "q": fragment},
    ]:
        _assert_indexed(client, payments, params)

    entries = reverse("admin:accounts_ledgerentry_changelist")
    for params in [
        {},
        {"account_number": busy.number},
        {"account_number": busy.number, "created_at_from": day.isoformat()},
        {"created_at_from": day.isoformat(), "created_at_to": day.isoformat()},
        {"q": busy.number},
        {"q": f"LT{txn.pk}"},
    ]:
        _assert_indexed(client, entries, params)
    for name, args in [
        ("admin:payments_payment_change", [payment.pk]),
        ("admin:accounts_ledgertransaction_change", [txn.pk]),
        ("admin:accounts_ledgerentry_change", [entry.pk]),
    ]:
        _assert_indexed(client, reverse(name, args=args), {})
    for params in [{}, {"q": fragment}, {"q": pid[:10]}]:
        _assert_indexed(
            client, reverse("admin:payments_refund_changelist"), params
        ) if params else None

    operator = make_operator()
    client.logout()
    otp_login(client, operator)
    search = reverse("payments:search")
    for params in [
        {},
        {"reference": fragment},
        {"reference": "Supplier INV"},
        {"id": pid[:8]},
        {"id": pid},
        {"end_to_end_id": e2e_fragment},
        {"account": payee.number},
        {"status": "expired"},
        {"currency": "CHF"},
        {"merchant": str(payment.merchant_id)},
        {"amount_min": "10", "amount_max": "10.50"},
        {"created_from": day.isoformat(), "created_to": day.isoformat()},
        {
            "batch": str(
                Payment.objects.exclude(batch_id=None).values_list("batch_id", flat=True)[0]
            )
        },
        {"status": "completed", "currency": "EUR", "created_from": day.isoformat()},
    ]:
        _assert_indexed(client, search, params)
    _assert_indexed(client, reverse("payments:detail", args=[payment.pk]), {})
    _assert_indexed(client, reverse("ledger:account_detail", args=[busy.pk]), {})
