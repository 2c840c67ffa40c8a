"""Background work of sanctions screening: run by the outbox and by the cron."""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from accounts.identity.audit import Actor
from compliance import services
from outbox import services as outbox
from outbox.models import OutboxJob


def screen_everyone() -> dict[str, int]:
    """Screen every merchant, account holder and stored payee (safe to run twice)."""
    return services.sanctions_screen(actor=Actor.system("system: sanctions screening"))


def schedule_daily_screening() -> None:
    """The cron's daily run, through the outbox: one a calendar day, whatever the hosts.

    The cron asks every hour; a day whose run is recorded (pending or done: done rows are
    kept a week) is not asked again."""
    key = f"sanctions.screen.daily.{timezone.localdate().isoformat()}"
    with transaction.atomic():
        if OutboxJob.objects.filter(key=key).exists():
            return
        outbox.schedule(
            key=key,
            job=services.SCREEN_JOB,
            args=[],
            queue="default",
        )
