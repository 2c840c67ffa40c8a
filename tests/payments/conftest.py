"""Fixtures of the payments tests: a merchant with a key, funded accounts, an API client."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from accounts.identity.audit import Actor
from payments import api_keys
from tests.factories import AccountFactory, MerchantFactory, fund


class Merchant:
    """A merchant as the tests see it: its key, its client, its EUR account and a payee."""

    def __init__(self, name: str):
        self.merchant = MerchantFactory(name=name)
        self.api_key, self.key = api_keys.api_key_create(
            merchant=self.merchant, name="tests", actor=Actor.system("tests")
        )
        self.client = APIClient()
        self.client.credentials(HTTP_AUTHORIZATION=f"Bearer {self.key}")
        self.account = AccountFactory(merchant=self.merchant, currency="EUR")
        fund(self.account, 100_000)  # 1000.00 EUR
        self.payee = AccountFactory(merchant=None, currency="EUR")

    def pay(self, amount: str = "10.00", **extra):
        body = {
            "debtor_account": self.account.number,
            "creditor_account": self.payee.number,
            "amount": amount,
            "currency": "EUR",
            "reference": "order-1",
            **extra,
        }
        headers = {}
        if "idempotency_key" in body:
            headers["HTTP_IDEMPOTENCY_KEY"] = body.pop("idempotency_key")
        return self.client.post("/api/v1/payments/", body, format="json", **headers)


@pytest.fixture
def shop(db):
    return Merchant("Shop")


@pytest.fixture
def rival(db):
    return Merchant("Rival")


@pytest.fixture
def keep_test_connection():
    """For tests that call the raw WSGI app (config.wsgi): it closes "obsolete" connections
    around each request, and the test's open transaction looks obsolete; Django's own test
    client unhooks this the same way."""
    from django.core.signals import request_finished, request_started
    from django.db import close_old_connections

    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)
