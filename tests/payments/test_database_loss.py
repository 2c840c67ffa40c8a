"""A request cut off mid-transaction, as when the primary dies under it: the client gets
a 503 telling it to retry with its Idempotency-Key, nothing of the request is applied,
and the next request reconnects and makes the payment once."""

from __future__ import annotations

import psycopg
import pytest
from django.db import close_old_connections, connection

from accounts.ledger.selectors import ledger_verify
from payments import services
from payments.models import IdempotencyRecord, Payment


def _terminate(pid: int) -> None:
    """What the death of the server does to the connection: from another session."""
    params = connection.get_connection_params()
    kwargs = {k: params[k] for k in ("dbname", "user", "host", "port", "password") if k in params}
    with psycopg.connect(**kwargs, autocommit=True) as other:
        other.execute("SELECT pg_terminate_backend(%s)", [pid])


@pytest.mark.django_db(transaction=True)
def test_a_payment_cut_off_mid_transaction_is_503_then_made_once_on_retry(shop, monkeypatch):
    emit = services.webhooks.emit
    cut = {"done": False}

    def emit_after_the_connection_died(**kwargs):
        # The money has moved and the payment row is written, inside the transaction:
        # the server goes away before the commit.
        if not cut["done"]:
            cut["done"] = True
            _terminate(connection.connection.info.backend_pid)
        return emit(**kwargs)

    monkeypatch.setattr(services.webhooks, "emit", emit_after_the_connection_died)

    # when the first attempt loses its connection mid-transaction
    first = shop.pay("10.00", idempotency_key="order-503")

    # then a 503 that says what to do, and nothing of it applied
    assert first.status_code == 503
    assert first["Retry-After"] == "1"
    assert first.json()["code"] == "database_unavailable"
    assert "Idempotency-Key" in first.json()["detail"]
    close_old_connections()  # what Django does at the end of every request
    assert Payment.objects.count() == 0
    assert IdempotencyRecord.objects.count() == 0
    shop.account.refresh_from_db()
    assert shop.account.balance == 100_000

    # when the client retries with the same key, on a new connection
    second = shop.pay("10.00", idempotency_key="order-503")

    # then the payment is made, once
    assert second.status_code == 201, second.json()
    assert second.json()["status"] == "completed"
    assert Payment.objects.count() == 1
    shop.account.refresh_from_db()
    assert shop.account.balance == 99_000
    assert ledger_verify()["ok"]


@pytest.mark.django_db(transaction=True)
def test_the_prepared_hot_path_works_again_on_the_new_connection(shop):
    # given a connection that has prepared the payment path's statements
    assert shop.pay("1.00").status_code == 201
    old_pid = connection.connection.info.backend_pid

    # when its server goes away between requests (a failover)
    _terminate(old_pid)
    close_old_connections()

    # then the next payment runs on a new connection, preparing them again
    assert shop.pay("2.00").status_code == 201
    assert connection.connection.info.backend_pid != old_pid
    assert Payment.objects.filter(status="completed").count() == 2
