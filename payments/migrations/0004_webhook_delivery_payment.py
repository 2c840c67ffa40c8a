"""Webhook deliveries of payment events point at their payment (indexed), so that a
payment's page finds its events without searching the merchant's payloads."""

import uuid

import django.db.models.deletion
from django.db import migrations, models

LINK_ON_POSTGRESQL = """
UPDATE payments_webhookdelivery AS delivery
   SET payment_id = payment.id
  FROM payments_payment AS payment
 WHERE delivery.payment_id IS NULL
   AND delivery.event_type LIKE 'payment.%'
   AND delivery.payload -> 'data' ->> 'id' ~ '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$'
   AND payment.id = (delivery.payload -> 'data' ->> 'id')::uuid
"""


def link_payment_events(apps, schema_editor):
    link(apps, schema_editor.connection)


def link(apps, connection):
    """Link the payment events recorded before this migration, as new ones are linked."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(LINK_ON_POSTGRESQL)
        return
    WebhookDelivery = apps.get_model("payments", "WebhookDelivery")
    Payment = apps.get_model("payments", "Payment")
    unlinked = WebhookDelivery.objects.filter(
        event_type__startswith="payment.", payment__isnull=True
    )
    for delivery in unlinked.iterator():
        try:
            payment_id = uuid.UUID(str((delivery.payload.get("data") or {}).get("id")))
        except (AttributeError, ValueError):
            continue
        if Payment.objects.filter(pk=payment_id).exists():
            WebhookDelivery.objects.filter(pk=delivery.pk).update(payment_id=payment_id)


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0008_balance_check_on_new_entries"),
        ("payments", "0003_partial_unique_indexes"),
    ]

    operations = [
        migrations.AddField(
            model_name="webhookdelivery",
            name="payment",
            field=models.ForeignKey(
                blank=True,
                db_index=False,
                null=True,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="webhook_deliveries",
                to="payments.payment",
            ),
        ),
        migrations.RunPython(link_payment_events, migrations.RunPython.noop),
        migrations.AddIndex(
            model_name="webhookdelivery",
            index=models.Index(
                condition=models.Q(("payment__isnull", False)),
                fields=["payment", "created_at"],
                name="webhook_by_payment",
            ),
        ),
    ]
