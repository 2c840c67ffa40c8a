"""Payments racing on one account cannot together pass its daily instant limit: the day is
counted under the debtor account's lock (real connections, real threads)."""

from __future__ import annotations

import threading
from collections import Counter

import pytest
from django.db import connections
from rest_framework.test import APIClient

from accounts.ledger.selectors import ledger_verify
from accounts.models import Account

pytestmark = pytest.mark.django_db(transaction=True)


def test_twenty_racing_payments_fit_the_day_ten_times(shop):
    # given: 100.00 a day, twenty payments of 10.00 at once
    Account.objects.filter(pk=shop.account.pk).update(instant_limit_per_day=10_000)
    barrier = threading.Barrier(20)
    outcomes: list = []

    def post():
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {shop.key}")
        try:
            barrier.wait(timeout=60)
            body = client.post(
                "/api/v1/payments/",
                {
                    "debtor_account": shop.account.number,
                    "creditor_account": shop.payee.number,
                    "amount": "10.00",
                    "currency": "EUR",
                },
                format="json",
            ).json()
            outcomes.append((body.get("status", str(body)), body.get("failure_code")))
        finally:
            connections.close_all()

    threads = [threading.Thread(target=post) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)

    assert Counter(outcomes) == {("completed", None): 10, ("failed", "AM14"): 10}
    shop.account.refresh_from_db()
    assert shop.account.balance == 100_000 - 10_000
    assert ledger_verify()["ok"]
