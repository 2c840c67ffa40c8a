"""The back office's search indexes: trigram GIN indexes for a fragment of a reference or
an end-to-end id in any case, and the status and currency filters newest first.

Django's `icontains` is `UPPER(col::text) LIKE UPPER('%x%')`, so the trigram indexes are
on `UPPER(col)`. They are plain SQL: Django wraps an index expression with an operator
class in parentheses that PostgreSQL refuses (`(UPPER(col) gin_trgm_ops)`).
"""

from django.contrib.postgres.operations import TrigramExtension
from django.db import migrations, models

TRIGRAM_INDEXES = [
    ("payment_reference_trgm", "reference"),
    ("payment_e2e_trgm", "end_to_end_id"),
]


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0008_balance_check_on_new_entries"),
        ("payments", "0004_webhook_delivery_payment"),
    ]

    operations = [
        # pg_trgm ships with PostgreSQL (the embedded server too); creating it needs a
        # superuser or a trusted-extension grant, which the embedded and CI servers give.
        TrigramExtension(),
        *[
            migrations.RunSQL(
                f'CREATE INDEX "{name}" ON "payments_payment" '
                f'USING gin ((UPPER("{column}"::text)) gin_trgm_ops)',
                f'DROP INDEX IF EXISTS "{name}"',
            )
            for name, column in TRIGRAM_INDEXES
        ],
        migrations.AddIndex(
            model_name="payment",
            index=models.Index(fields=["status", "-created_at"], name="payment_status_newest"),
        ),
        migrations.AddIndex(
            model_name="payment",
            index=models.Index(fields=["currency", "-created_at"], name="payment_currency_newest"),
        ),
    ]
