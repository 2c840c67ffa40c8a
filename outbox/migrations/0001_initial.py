# The OutboxJob model moved here from the payments app: its table stays
# payments_outboxjob, so only Django's idea of where the model lives changes.

from django.db import migrations, models


class Migration(migrations.Migration):

    initial = True

    dependencies = [
        ('payments', '0008_payment_debtor_creditor_index'),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[],
            state_operations=[
                migrations.CreateModel(
                    name='OutboxJob',
                    fields=[
                        ('id', models.BigAutoField(primary_key=True, serialize=False)),
                        ('key', models.CharField(max_length=200)),
                        ('job', models.CharField(help_text='dotted path of the function to call', max_length=200)),
                        ('args', models.JSONField(default=list)),
                        ('queue', models.CharField(default='default', max_length=40)),
                        ('created_at', models.DateTimeField(auto_now_add=True)),
                        ('due_at', models.DateTimeField(db_index=True)),
                        ('enqueued_at', models.DateTimeField(blank=True, null=True)),
                        ('enqueue_count', models.PositiveIntegerField(default=0)),
                        ('rq_job_id', models.CharField(blank=True, max_length=100)),
                        ('started_at', models.DateTimeField(blank=True, null=True)),
                        ('heartbeat_at', models.DateTimeField(blank=True, null=True)),
                        ('attempts', models.PositiveIntegerField(default=0)),
                        ('last_error', models.TextField(blank=True)),
                        ('done_at', models.DateTimeField(blank=True, null=True)),
                        ('request_id', models.CharField(blank=True, max_length=64)),
                    ],
                    options={
                        'db_table': 'payments_outboxjob',
                        'ordering': ['-id'],
                        'indexes': [models.Index(condition=models.Q(('done_at__isnull', True)), fields=['due_at'], name='outbox_pending_by_due')],
                        'constraints': [models.UniqueConstraint(condition=models.Q(('done_at__isnull', True)), fields=('key',), name='outbox_one_pending_per_key')],
                    },
                ),
            ],
        ),
    ]
