"""Periodic jobs, run by `manage.py rqcron config.cron` (started by `make run`).

Each job is idempotent, so running two cron schedulers on two hosts is harmless.
"""

from rq import cron

from batches.jobs import resume_stalled_batches, start_due_batches
from payments.jobs import deliver_due_webhooks, expire_authorizations, purge_idempotency_keys

cron.register(expire_authorizations, queue_name="default", interval=60)
cron.register(deliver_due_webhooks, queue_name="webhooks", interval=15)
cron.register(start_due_batches, queue_name="batches", interval=60)
cron.register(purge_idempotency_keys, queue_name="default", interval=3600)
cron.register(resume_stalled_batches, queue_name="batches", interval=60)
