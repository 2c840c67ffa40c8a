"""E-mails about batches: to the approvers when one awaits them, to the maker when decided.

Sent through Django's e-mail backend (console by default, SMTP by setting) by an outbox
job written in the transaction of the change they announce: a rolled-back decision never
mails anyone, and a mail server that is down delays the mails, never loses them.
"""

from __future__ import annotations

from django.conf import settings
from django.urls import reverse
from django.utils import timezone

from accounts.identity.roles import APPROVER
from accounts.ledger import money
from accounts.models import User
from batches import selectors
from batches.models import Batch
from outbox import mail


def _link(batch: Batch) -> str:
    return settings.SITE_URL.rstrip("/") + reverse("batches:detail", args=[batch.pk])


def _totals(batch: Batch) -> str:
    from batches.selectors import totals_by_currency

    totals = totals_by_currency(batch)
    return ", ".join(f"{money.to_decimal(t, c):,f} {c}" for c, t in sorted(totals.items()) if t)


def approvers_for(batch: Batch) -> list[str]:
    """The e-mail addresses of the approvers who may decide on `batch` now."""
    decided = batch.approvals.values("approver_id")
    now = timezone.now()
    users = (
        User.objects.filter(
            person__grants__role=APPROVER,
            person__grants__approved_at__isnull=False,
            person__grants__revoked_at__isnull=True,
            is_active=True,
            merchant__isnull=True,
        )
        .exclude(pk=batch.uploaded_by_id or 0)
        .exclude(person_id__in=[*selectors.initiators(batch)] or [0])
        .exclude(pk__in=decided)
        .exclude(approval_barred_until__gt=now)
        .exclude(email="")
        .order_by("pk")
        .distinct()
    )
    return list(users.values_list("email", flat=True))


def batch_awaits_approval(batch: Batch) -> None:
    """Tell the approvers who may decide that `batch` awaits them."""
    recipients = approvers_for(batch)
    if not recipients:
        return
    subject = f"Batch {batch.file_name} awaits your approval"
    body = (
        f"{batch.merchant.name} uploaded {batch.file_name}: {batch.valid_count} payments "
        f"for {_totals(batch) or 'nothing'}, {batch.invalid_count} rows refused.\n"
        f"Flags: {batch.flag_counts.get('new_payee', 0)} new payees, "
        f"{batch.flag_counts.get('duplicate', 0)} possible duplicates.\n"
        f"Review it and decide: {_link(batch)}\n"
    )
    messages = [[subject, body, None, [address]] for address in recipients]
    _send(key=f"batch.awaits:{batch.pk}:{batch.approvals.count()}", messages=messages)


def batch_decided(batch: Batch, *, decision: str, by: User, reason: str = "") -> None:
    """Tell the maker that their batch was approved or rejected."""
    maker = batch.uploaded_by
    if maker is None or not maker.email:
        return
    subject = f"Batch {batch.file_name}: {decision} by {by.get_username()}"
    body = f"Your batch {batch.file_name} ({batch.id}) was {decision} by {by.get_username()}.\n"
    if reason:
        body += f"Reason: {reason}\n"
    body += f"{_link(batch)}\n"
    _send(key=f"batch.decided:{batch.pk}", messages=[[subject, body, None, [maker.email]]])


def _send(*, key: str, messages: list[list]) -> None:
    """Record the mails as an outbox job in the current transaction (sent at least once)."""
    mail.schedule(key=key, messages=messages)
