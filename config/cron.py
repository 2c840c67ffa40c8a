"""Periodic jobs, run by `manage.py rqcron config.cron` (started by `make run`).

Each job is idempotent, so running two cron schedulers on two hosts is harmless.
"""

from rq import cron

from payments.jobs import deliver_due_webhooks, expire_authorizations

cron.register(expire_authorizations, queue_name="default", interval=60)
cron.register(deliver_due_webhooks, queue_name="webhooks", interval=15)
