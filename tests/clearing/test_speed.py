"""What the instant path's speed work must not change: a transfer leaves only once its
debit has committed, and the checks it passes are as strict as ever."""

from __future__ import annotations

import pytest
from django.db import connection

from clearing import transport
from payments.models import IdempotencyRecord, Payment
from tests.clearing.test_outbound import FakePeer, _balances


@pytest.fixture
def fake(peer, monkeypatch):
    fake = FakePeer(peer)
    fake.depths = []  # how many atomic blocks were open at each post

    def post(**kwargs):
        fake.depths.append(len(connection.atomic_blocks))
        return fake(**kwargs)

    monkeypatch.setattr(transport, "post", post)
    return fake


def _pay(shop, peer, **headers):
    body = {
        "debtor_account": shop.account.number,
        "creditor_account": peer.customer_iban(),
        "amount": "12.50",
        "currency": "EUR",
        "reference": "invoice 42",
        "creditor_name": "Jean Dupont",
        "creditor_address": {"town": "Paris", "country": "FR"},
    }
    return shop.client.post("/api/v1/payments/", body, format="json", headers=headers)


@pytest.mark.parametrize("key", [None, "order-1"])
def test_a_transfer_is_posted_only_once_its_debit_has_committed(fake, peer, shop, key):
    # The test's own transaction is the only one open when the pacs.008 leaves: not the
    # Idempotency-Key's, nor the debit's (the peer could credit what this hub rolled back,
    # and the peer's clearing account would stay locked for the round trip).
    outside = len(connection.atomic_blocks)
    response = _pay(shop, peer, **({"Idempotency-Key": key} if key else {}))
    assert response.status_code == 201, response.content
    assert response.json()["status"] == "completed"
    assert fake.depths == [outside]
    assert _balances(shop, peer) == (100_000 - 1250, 1250)


def test_a_replay_answers_what_the_first_client_was_told(fake, peer, shop):
    first = _pay(shop, peer, **{"Idempotency-Key": "order-2"})
    assert first.json()["status"] == "completed"
    record = IdempotencyRecord.objects.get(key="order-2")
    assert record.response_body["status"] == "completed"
    again = _pay(shop, peer, **{"Idempotency-Key": "order-2"})
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.json() == first.json()
    assert len(fake.received) == 1 and Payment.objects.count() == 1


def test_a_first_delivery_that_fails_leaves_the_payment_pending_and_answered(fake, peer, shop):
    fake.down = True
    response = _pay(shop, peer, **{"Idempotency-Key": "order-3"})
    assert response.status_code == 201
    assert response.json()["status"] == "pending"
    assert IdempotencyRecord.objects.get(key="order-3").response_body["status"] == "pending"
    assert _balances(shop, peer) == (100_000 - 1250, 1250)
