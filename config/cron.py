"""Periodic jobs, run by `manage.py rqcron config.cron` (started by `make run`).

Each job is idempotent, so running two cron schedulers on two hosts is harmless.
"""

from django.conf import settings
from rq import cron

from batches.jobs import resume_stalled_batches, start_due_batches
from clearing.jobs import purge_seen_signatures
from compliance.jobs import schedule_daily_screening
from outbox.jobs import purge_outbox, sweep_outbox
from payments.jobs import (
    deliver_due_webhooks,
    expire_authorizations,
    purge_idempotency_keys,
)

cron.register(expire_authorizations, queue_name="default", interval=60)
cron.register(deliver_due_webhooks, queue_name="webhooks", interval=15)
cron.register(start_due_batches, queue_name="batches", interval=60)
cron.register(purge_idempotency_keys, queue_name="default", interval=3600)
cron.register(resume_stalled_batches, queue_name="default", interval=60)
# The outbox: what is due and not done (never sent, lost with Redis, or its worker died,
# seen from a heartbeat silent for 3 beats) is enqueued again. On the default queue, so
# that a long batch on the batches queue does not delay the rescue of another.
cron.register(sweep_outbox, queue_name="default", interval=settings.OUTBOX_SWEEP_SECONDS)
cron.register(purge_outbox, queue_name="default", interval=24 * 3600)
# Sanctions screening of every merchant, account holder and stored payee once a calendar
# day (asked every hour, run once a day through the outbox; compliance/jobs.py).
cron.register(schedule_daily_screening, queue_name="default", interval=3600)
# Clearing: the signatures kept against replays, once they are too old to be accepted anyway.
cron.register(purge_seen_signatures, queue_name="default", interval=600)
