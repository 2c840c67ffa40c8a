"""The prepared-statement paths (common.db.pgsql) write and read what the ORM would."""

from __future__ import annotations

import psycopg
import pytest
from django.db import IntegrityError, connection, transaction
from django.forms.models import model_to_dict

from accounts.ledger import posting
from accounts.models import Account, LedgerEntry, LedgerTransaction
from common.db import pgsql
from tests.factories import AccountFactory, fund


@pytest.mark.django_db
def test_insert_writes_the_row_save_would_write():
    # given two unsaved accounts alike but for their number
    merchant = AccountFactory().merchant
    alike = {"currency": "JPY", "name": "Hanako", "merchant": merchant, "status": "frozen"}
    by_save = Account(number="SAVE0001", **alike)
    by_insert = Account(number="FAST0001", **alike)
    # when one is saved by the ORM and the other by pgsql.insert
    by_save.save()
    returned = pgsql.insert(by_insert)
    # then both rows hold the same values, defaults and auto_now fields included
    ignore = {"id", "number", "created_at", "updated_at"}
    saved, inserted = (
        {
            k: v
            for k, v in Account.objects.filter(number=n).values().get().items()
            if k not in ignore
        }
        for n in ("SAVE0001", "FAST0001")
    )
    assert inserted == saved
    stored = Account.objects.get(number="FAST0001")
    assert stored.created_at is not None and stored.updated_at is not None
    assert returned is by_insert and not by_insert._state.adding


@pytest.mark.django_db
def test_insert_reads_back_an_auto_increment_key():
    txn = pgsql.insert(LedgerTransaction(kind="transfer", currency="EUR", amount=5))
    assert isinstance(txn.pk, int)
    assert LedgerTransaction.objects.get(pk=txn.pk).amount == 5


@pytest.mark.django_db
def test_rows_become_the_instances_the_orm_makes():
    account = AccountFactory(currency="EUR")
    fund(account, 1234)
    rows = pgsql.execute(
        f"SELECT {pgsql.columns(Account)} FROM accounts_account WHERE id = %s", [account.pk]
    )
    fast = pgsql.from_row(Account, rows[0])
    assert model_to_dict(fast) == model_to_dict(Account.objects.get(pk=account.pk))
    assert fast.balance == 1234 and not fast._state.adding


@pytest.mark.django_db
def test_database_errors_are_djangos():
    account = AccountFactory()
    with pytest.raises(IntegrityError), transaction.atomic():
        pgsql.insert(Account(number=account.number, currency="EUR"))


@pytest.mark.django_db
def test_a_posting_of_one_statement_keeps_the_ledger_whole():
    # given
    debtor, creditor = AccountFactory(currency="EUR"), AccountFactory(currency="EUR")
    fund(debtor, 1000)
    # when
    txn = posting.transfer(debtor_id=debtor.pk, creditor_id=creditor.pk, amount=300, currency="EUR")
    # then the transaction, both legs and both balances are written
    assert LedgerTransaction.objects.get(pk=txn.pk).amount == 300
    legs = dict(
        LedgerEntry.objects.filter(transaction_id=txn.pk).values_list("account_id", "amount")
    )
    assert legs == {debtor.pk: -300, creditor.pk: 300}
    debtor.refresh_from_db()
    creditor.refresh_from_db()
    assert (debtor.balance, creditor.balance) == (700, 300)
    after = dict(
        LedgerEntry.objects.filter(transaction_id=txn.pk).values_list("account_id", "balance_after")
    )
    assert after == {debtor.pk: 700, creditor.pk: 300}


@pytest.mark.django_db(transaction=True)
def test_a_connection_cut_by_the_server_is_replaced_by_the_first_read():
    # given a connection kept from an earlier request, then cut by the server
    pgsql.execute("SELECT 1")
    old_pid = connection.connection.info.backend_pid
    params = connection.get_connection_params()
    params.pop("cursor_factory", None)
    params.pop("context", None)
    with psycopg.connect(**params, autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(%s)", [old_pid])
    connection.health_check_done = False  # a new request starts
    # when the request's first statement is a read
    rows = pgsql.execute("SELECT 42")
    # then it is answered on a new connection
    assert rows == [(42,)]
    assert connection.connection.info.backend_pid != old_pid


@pytest.mark.django_db(transaction=True)
def test_a_cut_connection_is_not_retried_by_a_write():
    pgsql.execute("SELECT 1")
    params = connection.get_connection_params()
    params.pop("cursor_factory", None)
    params.pop("context", None)
    with psycopg.connect(**params, autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(%s)", [connection.connection.info.backend_pid])
    connection.health_check_done = False
    # a write first checks the connection (Django's SELECT 1), then runs on a new one
    txn = pgsql.insert(LedgerTransaction(kind="transfer", currency="EUR", amount=7))
    assert LedgerTransaction.objects.filter(pk=txn.pk).exists()


@pytest.mark.django_db(transaction=True)
def test_the_first_statement_of_a_transaction_carries_its_begin():
    # given an account, and a new transaction whose first statement fails
    account = AccountFactory()
    with pytest.raises(IntegrityError), transaction.atomic():
        assert connection.connection.info.transaction_status == psycopg.pq.TransactionStatus.IDLE
        pgsql.insert(Account(number=account.number, currency="EUR"))
    # then nothing is left open and the next transaction works from its first statement
    assert connection.connection.info.transaction_status == psycopg.pq.TransactionStatus.IDLE
    with transaction.atomic():
        rows = pgsql.execute("SELECT number FROM accounts_account WHERE id = %s", [account.pk])
        assert connection.connection.info.transaction_status == psycopg.pq.TransactionStatus.INTRANS
        pgsql.insert(Account(number="PIPE0001", currency="EUR"))
    assert rows == [(account.number,)]
    assert Account.objects.filter(number="PIPE0001").exists()
