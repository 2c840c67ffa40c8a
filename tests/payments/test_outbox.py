"""The transactional outbox: work recorded with its change, sent after commit, sent again
by the sweep when it was lost or its worker died, done once it ran."""

from __future__ import annotations

import threading
from datetime import timedelta

import django_rq
import pytest
from django.db import transaction
from django.utils import timezone

from outbox import services as outbox
from outbox.models import OutboxJob

pytestmark = pytest.mark.django_db

CALLS: list[str] = []


def record_call(value: str) -> str:
    CALLS.append(value)
    return value


def explode(value: str) -> None:
    raise RuntimeError(f"boom {value}")


@pytest.fixture(autouse=True)
def _calls():
    CALLS.clear()
    django_rq.get_queue("default").empty()


def schedule(key="thing:1", job="tests.payments.test_outbox.record_call", args=("a",)):
    with transaction.atomic():
        return outbox.schedule(key=key, job=job, args=list(args), queue="default")


def test_one_pending_row_per_key():
    first = schedule()
    again = schedule()

    assert first.pk == again.pk
    assert OutboxJob.objects.count() == 1


def test_it_is_enqueued_on_commit_and_run_marks_it_done(django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        row = schedule()

    queue = django_rq.get_queue("default")
    assert [job.func_name for job in queue.get_jobs()] == [outbox.RUN]
    assert outbox.run(row.pk) == "a"
    assert outbox.run(row.pk) == "done already"  # a duplicate delivery does no work
    assert CALLS == ["a"]
    row.refresh_from_db()
    assert row.done_at is not None and row.attempts == 1 and row.enqueue_count == 1


def test_a_failing_job_stays_pending_and_is_retried_after_a_delay():
    row = schedule(job="tests.payments.test_outbox.explode")

    with pytest.raises(RuntimeError):
        outbox.run(row.pk)

    row.refresh_from_db()
    assert row.done_at is None and "boom a" in row.last_error
    assert row.due_at > timezone.now()
    assert outbox.sweep(now=timezone.now()) == []
    assert outbox.sweep(now=row.due_at + timedelta(seconds=1)) == [row.pk]


def test_a_job_waiting_in_its_queue_is_not_sent_twice(django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        row = schedule()

    assert outbox.sweep(now=timezone.now() + timedelta(hours=1)) == []
    assert django_rq.get_queue("default").count == 1
    assert outbox.backlog(now=row.due_at + timedelta(seconds=30)) == {
        "pending": 1,
        "oldest_seconds": 30.0,
    }


def test_a_stalled_heartbeat_is_sent_again_and_a_fresh_one_is_not(settings):
    settings.OUTBOX_HEARTBEAT_SECONDS = 10
    row = schedule()
    beat = timezone.now()
    OutboxJob.objects.filter(pk=row.pk).update(started_at=beat, heartbeat_at=beat, enqueue_count=1)

    assert outbox.sweep(now=beat + timedelta(seconds=29)) == []
    assert outbox.sweep(now=beat + timedelta(seconds=31)) == [row.pk]
    row.refresh_from_db()
    assert row.heartbeat_at is None and row.enqueue_count == 2
    assert row.rq_job_id == f"outbox-{row.pk}-2"


def test_done_rows_are_purged_after_a_week():
    row = schedule()
    outbox.run(row.pk)

    assert outbox.purge_done(now=timezone.now() + timedelta(days=1)) == 0
    assert outbox.purge_done(now=timezone.now() + timedelta(days=8)) == 1


@pytest.mark.django_db(transaction=True)
def test_the_heartbeat_is_written_from_its_own_thread_while_the_job_runs():
    with transaction.atomic():
        row = outbox.schedule(key="beat", job="x", args=[], queue="default")
    beaten = threading.Event()

    with outbox.heartbeat(row.pk, every=0.01):
        for _ in range(500):
            if OutboxJob.objects.get(pk=row.pk).heartbeat_at is not None:
                beaten.set()
                break
            beaten.wait(0.01)

    assert beaten.is_set()


@pytest.mark.django_db(transaction=True)
def test_the_heartbeat_goes_on_beating_after_a_beat_that_failed(monkeypatch):
    from outbox import services as outbox_services

    with transaction.atomic():
        row = outbox.schedule(key="beat-again", job="x", args=[], queue="default")
    failures = []

    class FailingOnce:
        @staticmethod
        def now():
            if not failures:
                failures.append(1)
                raise ConnectionError("the database went away")
            return timezone.now()

    monkeypatch.setattr(outbox_services, "timezone", FailingOnce)
    beaten = threading.Event()

    with outbox.heartbeat(row.pk, every=0.01):
        for _ in range(500):
            if OutboxJob.objects.get(pk=row.pk).heartbeat_at is not None:
                beaten.set()
                break
            beaten.wait(0.01)

    assert failures == [1]
    assert beaten.is_set()


def test_done_marks_the_pending_row_of_a_key_and_nothing_else():
    # given a pending row, and a done row of another key
    pending = schedule(key="thing:answered")
    other = schedule(key="thing:other")
    OutboxJob.objects.filter(pk=other.pk).update(done_at=timezone.now())
    # when the pending row's work is done another way
    marked = outbox.done("thing:answered")
    # then it is done and never runs; asking again marks nothing
    assert marked == 1
    assert OutboxJob.objects.get(pk=pending.pk).done_at is not None
    assert outbox.done("thing:answered") == 0 and outbox.done("thing:other") == 0
    assert outbox.due(now=timezone.now() + timedelta(days=1)) == []
