"""50 simultaneous payments from one account through the API, funds for 25."""

from __future__ import annotations

import threading
from collections import Counter

import pytest
from django.db import connections
from rest_framework.test import APIClient

from accounts.ledger.selectors import ledger_verify
from accounts.models import Account
from payments.models import Payment
from tests.factories import fund

pytestmark = pytest.mark.django_db(transaction=True)


def test_fifty_racing_payments_with_funds_for_twenty_five(shop):
    # given: 25 x 4.00 available, after the fixture's 1000.00 is moved away
    Account.objects.filter(pk=shop.account.pk)  # the fixture funded 1000.00
    drain = shop.pay("1000.00")
    assert drain.json()["status"] == "completed"
    fund(shop.account, 25 * 400)
    barrier = threading.Barrier(50)
    statuses: list = []

    def post():
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {shop.key}")
        try:
            barrier.wait(timeout=60)
            response = client.post(
                "/api/v1/payments/",
                {
                    "debtor_account": shop.account.number,
                    "creditor_account": shop.payee.number,
                    "amount": "4.00",
                    "currency": "EUR",
                },
                format="json",
            )
            body = response.json()
            statuses.append(
                (response.status_code, body.get("status", str(body)), body.get("failure_code"))
            )
        finally:
            connections.close_all()

    threads = [threading.Thread(target=post) for _ in range(50)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)

    assert Counter(statuses) == {
        (201, "completed", None): 25,
        (201, "failed", "insufficient_funds"): 25,
    }
    shop.account.refresh_from_db()
    assert shop.account.balance == 0
    assert Payment.objects.filter(status="completed").count() == 26
    assert ledger_verify()["ok"]
