"""No lost work: a batch's validation and execution survive a lost RQ job, Redis being
down at upload time and a worker that dies mid-job (outbox/services.py)."""

from __future__ import annotations

from datetime import timedelta

import django_rq
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone
from redis.exceptions import ConnectionError as RedisConnectionError
from rest_framework.test import APIClient

from accounts.identity.audit import Actor
from batches import jobs as batch_jobs
from batches import services
from batches.models import Batch
from payments import api_keys
from tests.helpers import fresh_code, perform_queued

pytestmark = pytest.mark.django_db

LATER = timedelta(minutes=5)


def periodic_jobs(now):
    """What config/cron.py runs every few seconds, at `now`."""
    from outbox import services as outbox

    services.batch_resume_stalled(now=now)
    return outbox.sweep(now=now)


class DownQueue:
    def enqueue(self, *args, **kwargs):
        raise RedisConnectionError("Redis is down")


def test_an_upload_while_redis_is_down_answers_201_and_validates_once_it_is_back(
    desk, monkeypatch, django_capture_on_commit_callbacks
):
    # given: Redis refuses every connection
    _, key = api_keys.api_key_create(merchant=desk.merchant, name="t", actor=Actor.system("t"))
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    real_get_queue = django_rq.get_queue
    monkeypatch.setattr(django_rq, "get_queue", lambda *a, **k: DownQueue())

    # when: a merchant uploads
    with django_capture_on_commit_callbacks(execute=True):
        response = api.post(
            "/api/v1/batches/",
            {
                "file": SimpleUploadedFile(
                    "p.csv", desk.csv(("PAYEE0000", "1.00", "EUR", "r", "E1")).encode()
                ),
                "debtor_account": desk.account.number,
            },
            format="multipart",
        )

    # then: the upload stands, and validation happens once Redis is back
    assert response.status_code == 201, response.json()
    batch_id = response.json()["id"]
    monkeypatch.setattr(django_rq, "get_queue", real_get_queue)
    django_rq.get_queue("batches").empty()
    periodic_jobs(timezone.now() + LATER)
    assert perform_queued("batches") == 1
    assert Batch.objects.get(pk=batch_id).status == "awaiting_approval"


def test_a_lost_validation_job_is_sent_again(desk, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        batch = desk.upload(desk.csv(("PAYEE0000", "1.00", "EUR", "r", "E1")))
    queue = django_rq.get_queue("batches")
    assert queue.count == 1
    queue.empty()  # lost: Redis restarted without persistence

    periodic_jobs(timezone.now() + LATER)

    assert perform_queued("batches") == 1
    assert Batch.objects.get(pk=batch.id).status == "awaiting_approval"


def test_a_validation_whose_worker_was_killed_resumes(desk, django_capture_on_commit_callbacks):
    from outbox.models import OutboxJob

    with django_capture_on_commit_callbacks(execute=True):
        batch = desk.upload(desk.csv(("PAYEE0000", "1.00", "EUR", "r", "E1")))
    django_rq.get_queue("batches").empty()
    # A worker took the job, beat once, and was SIGKILLed mid-validation.
    crashed_at = timezone.now()
    OutboxJob.objects.filter(key=f"batch.validate:{batch.id}").update(
        started_at=crashed_at, heartbeat_at=crashed_at, attempts=1
    )
    assert Batch.objects.get(pk=batch.id).status == "uploaded"

    periodic_jobs(crashed_at + timedelta(seconds=45))

    assert perform_queued("batches") == 1
    assert Batch.objects.get(pk=batch.id).status == "awaiting_approval"


def test_a_crashed_execution_resumes_within_60_seconds(desk, django_capture_on_commit_callbacks):
    from outbox.models import OutboxJob

    batch = desk.upload(
        desk.csv(*[(f"PAYEE000{i}", "1.00", "EUR", "r", f"E{i}") for i in range(3)])
    )
    batch = services.batch_validate(batch_id=batch.id)
    with django_capture_on_commit_callbacks(execute=True):
        services.batch_approve(
            batch_id=batch.id,
            approver=desk.checker,
            actor=Actor.for_user(desk.checker),
            otp_token=fresh_code(desk.checker),
        )
    queue = django_rq.get_queue("batches")
    assert queue.count == 1
    queue.empty()  # a worker took it...
    crashed_at = timezone.now()  # ...wrote its heartbeat, and died with it
    job = OutboxJob.objects.get(key=f"batch.execute:{batch.id}")
    OutboxJob.objects.filter(pk=job.pk).update(
        started_at=crashed_at, heartbeat_at=crashed_at, attempts=1
    )

    # A beat is still fresh at 20 s: nothing is sent twice.
    assert job.pk not in periodic_jobs(crashed_at + timedelta(seconds=20))
    # Three beats missed: the sweep (every 10 s) sends it again within 60 s of the crash.
    assert job.pk in periodic_jobs(crashed_at + timedelta(seconds=50))
    assert perform_queued("batches") >= 1
    batch.refresh_from_db()
    assert batch.status == "completed" and batch.succeeded_count == 3
    assert OutboxJob.objects.get(pk=job.pk).done_at is not None


def test_a_batch_from_before_the_outbox_is_picked_up(desk):
    # An uploaded batch whose job was never recorded (made before the outbox existed).
    batch = desk.upload(desk.csv(("PAYEE0000", "1.00", "EUR", "r", "E1")))
    from outbox.models import OutboxJob

    OutboxJob.objects.all().delete()

    assert services.batch_resume_stalled(now=timezone.now() + LATER) == [batch.id]
    assert batch_jobs.validate_batch(str(batch.id)) == "awaiting_approval"
