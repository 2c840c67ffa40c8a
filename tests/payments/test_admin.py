"""Back-office screens of payments and batches: they open, search, and edit no money."""

from __future__ import annotations

import pytest
from django.urls import reverse

from accounts.models import LedgerTransaction
from payments import services
from payments.models import Payment, WebhookDelivery

pytestmark = pytest.mark.django_db


def test_payment_screens_open_with_their_inlines_read_only(admin_client, shop):
    shop.merchant.webhook_url = "https://merchant.example/hooks"
    shop.merchant.save()
    paid = shop.pay("20.00").json()
    services.payment_refund(payment_id=paid["id"], amount=500, reason="damaged")
    payment = Payment.objects.get(pk=paid["id"])

    page = admin_client.get(reverse("admin:payments_payment_change", args=[payment.pk]))
    assert page.status_code == 200
    html = page.content.decode()
    assert "damaged" in html and "5.00" in html  # the refund inline
    assert 'name="refunds-0-amount"' not in html and 'name="amount"' not in html

    txn = LedgerTransaction.objects.filter(payment=payment).get()
    assert (
        admin_client.get(
            reverse("admin:accounts_ledgertransaction_change", args=[txn.pk])
        ).status_code
        == 200
    )
    delivery = WebhookDelivery.objects.filter(merchant=shop.merchant).first()
    assert (
        admin_client.get(
            reverse("admin:payments_webhookdelivery_change", args=[delivery.pk])
        ).status_code
        == 200
    )

    found = admin_client.get(reverse("admin:payments_payment_changelist"), {"q": "20.00"})
    assert str(payment.pk) in found.content.decode()
    by_reference = admin_client.get(reverse("admin:payments_payment_changelist"), {"q": "order-1"})
    assert str(payment.pk) in by_reference.content.decode()


def test_every_payments_and_batches_list_opens(admin_client, shop):
    for name in [
        "payments_payment",
        "payments_refund",
        "payments_merchantapikey",
        "payments_webhookdelivery",
        "batches_batch",
        "batches_batchitem",
    ]:
        assert admin_client.get(reverse(f"admin:{name}_changelist")).status_code == 200
