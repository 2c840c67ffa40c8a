"""Mail sent at least once: recorded as an outbox job in the transaction of the change that
causes it, sent by a worker after the commit (and again if that worker dies first).

A mail is never sent for a change that rolled back, and a mail server that is down delays
the mail without turning the change into an error."""

from __future__ import annotations

from django.core.mail import send_mass_mail

from outbox import services

JOB = "outbox.mail.send_mails"


def schedule(*, key: str, messages: list[list]) -> None:
    """Queue (subject, body, sender, recipients) mails under a key unique to their cause."""
    services.schedule(key=key, job=JOB, args=[messages], queue="default")


def send_mails(messages: list[list]) -> int:
    """The outbox job: send the mails, (subject, body, sender, recipients) each."""
    return send_mass_mail([tuple(message) for message in messages])
