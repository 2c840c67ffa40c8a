"""RQ jobs of the batches app: thin, they reload by id and call services; safe to run twice."""

from __future__ import annotations

from uuid import UUID

from batches import services
from outbox import mail


def validate_batch(batch_id: str) -> str:
    return services.batch_validate(batch_id=UUID(batch_id)).status


def execute_batch(batch_id: str) -> str:
    return services.batch_execute(batch_id=UUID(batch_id)).status


def send_mails(messages: list[list]) -> int:
    """Jobs recorded before mail moved to outbox.mail still name this path."""
    return mail.send_mails(messages)


def mail_maker(batch_id: str) -> None:
    services.batch_mail_maker(batch_id=UUID(batch_id))


def refresh_statistics() -> None:
    services.refresh_statistics()


def start_due_batches() -> int:
    return len(services.batch_start_due())


def resume_stalled_batches() -> int:
    return len(services.batch_resume_stalled())
