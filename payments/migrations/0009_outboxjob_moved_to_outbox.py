# OutboxJob now belongs to the outbox app (same table, payments_outboxjob).

from django.db import migrations


class Migration(migrations.Migration):

    dependencies = [
        ('payments', '0008_payment_debtor_creditor_index'),
        ('outbox', '0001_initial'),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[],
            state_operations=[migrations.DeleteModel(name='OutboxJob')],
        ),
    ]
