"""Idempotency-Key: replay, conflict, and no double payment under concurrency."""

from __future__ import annotations

import threading

import pytest
from django.db import connections
from rest_framework.test import APIClient

from accounts.ledger.selectors import ledger_verify
from payments.models import IdempotencyRecord, Payment


@pytest.mark.django_db
def test_same_key_same_body_replays_the_first_response(shop):
    first = shop.pay("10.00", idempotency_key="order-77")
    second = shop.pay("10.00", idempotency_key="order-77")

    assert first.status_code == second.status_code == 201
    assert second.json() == first.json()
    assert second["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first
    assert Payment.objects.count() == 1
    shop.account.refresh_from_db()
    assert shop.account.balance == 99_000


@pytest.mark.django_db
def test_same_key_other_body_is_409(shop):
    shop.pay("10.00", idempotency_key="order-77")
    response = shop.pay("11.00", idempotency_key="order-77")
    assert response.status_code == 409
    assert response.json()["code"] == "idempotency_key_reused"
    assert Payment.objects.count() == 1


@pytest.mark.django_db
def test_keys_are_per_merchant(shop, rival):
    shop.pay("10.00", idempotency_key="k1")
    rival.pay("10.00", idempotency_key="k1")
    assert Payment.objects.count() == 2


@pytest.mark.django_db
def test_a_failed_payment_is_replayed_too(shop):
    first = shop.pay("5000.00", idempotency_key="big")
    second = shop.pay("5000.00", idempotency_key="big")
    assert first.json()["status"] == "failed"
    assert second.json() == first.json() and second["Idempotent-Replayed"] == "true"


@pytest.mark.django_db
def test_invalid_input_is_not_stored_and_the_key_can_be_reused(shop):
    assert shop.pay("1.001", idempotency_key="k2").status_code == 400
    assert IdempotencyRecord.objects.count() == 0
    assert shop.pay("1.00", idempotency_key="k2").status_code == 201


@pytest.mark.django_db
def test_too_long_key_is_400(shop):
    response = shop.pay(idempotency_key="k" * 256)
    assert response.status_code == 400 and response.json()["code"] == "invalid_idempotency_key"
    assert shop.pay(idempotency_key="k" * 255).status_code == 201


@pytest.mark.django_db
def test_capture_and_refund_are_idempotent(shop):
    authorized = shop.pay("30.00", capture=False).json()
    url = f"/api/v1/payments/{authorized['id']}/capture/"
    first = shop.client.post(url, {}, format="json", HTTP_IDEMPOTENCY_KEY="cap-1")
    second = shop.client.post(url, {}, format="json", HTTP_IDEMPOTENCY_KEY="cap-1")
    assert first.status_code == second.status_code == 200
    assert second["Idempotent-Replayed"] == "true"
    refund_url = f"/api/v1/payments/{authorized['id']}/refunds/"
    shop.client.post(refund_url, {"amount": "5.00"}, format="json", HTTP_IDEMPOTENCY_KEY="ref-1")
    shop.client.post(refund_url, {"amount": "5.00"}, format="json", HTTP_IDEMPOTENCY_KEY="ref-1")
    assert Payment.objects.get(pk=authorized["id"]).refunded_amount == 500


@pytest.mark.django_db
def test_purge_forgets_keys_after_their_ttl(shop):
    from datetime import timedelta

    from django.utils import timezone

    from payments.idempotency import purge_expired

    shop.pay("1.00", idempotency_key="old")
    assert purge_expired(now=timezone.now() + timedelta(hours=23)) == 0
    assert purge_expired(now=timezone.now() + timedelta(hours=25)) == 1


@pytest.mark.django_db(transaction=True)
def test_simultaneous_posts_with_one_key_create_one_payment(shop):
    barrier = threading.Barrier(8)
    results: list = []

    def post():
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {shop.key}")
        body = {
            "debtor_account": shop.account.number,
            "creditor_account": shop.payee.number,
            "amount": "10.00",
            "currency": "EUR",
        }
        try:
            barrier.wait(timeout=30)
            response = client.post(
                "/api/v1/payments/", body, format="json", HTTP_IDEMPOTENCY_KEY="race"
            )
            results.append(
                (
                    response.status_code,
                    response.json().get("id"),
                    response.get("Idempotent-Replayed"),
                )
            )
        finally:
            connections.close_all()

    threads = [threading.Thread(target=post) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert Payment.objects.count() == 1
    assert len(results) == 8
    assert {status for status, _, _ in results} == {201}
    assert {payment_id for _, payment_id, _ in results} == {str(Payment.objects.get().id)}
    assert sum(1 for *_, replayed in results if replayed == "true") == 7
    shop.account.refresh_from_db()
    assert shop.account.balance == 99_000
    assert ledger_verify()["ok"]
