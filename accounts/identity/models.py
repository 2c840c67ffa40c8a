"""People and the audit trail: the hub's users and what they did.

`AuditEvent` rows are written by services through `accounts.identity.audit`, never edited.
"""

from __future__ import annotations

from django.contrib.auth.models import AbstractUser
from django.db import models
from django.utils import timezone


class User(AbstractUser):
    """A person: operator, approver, back-office admin, or a merchant's user."""

    merchant = models.ForeignKey(
        "accounts.Merchant",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="users",
        help_text="Set for a merchant's own staff; empty for the hub's staff.",
    )
    # Set when someone else resets this user's password or second factor, or grants the
    # approver role: until then the user may sign in but not approve (APPROVAL_COOLOFF_HOURS).
    approval_barred_until = models.DateTimeField(
        null=True,
        blank=True,
        help_text="No approval before this time: credentials reset or approver role granted.",
    )


class AuditEvent(models.Model):
    """Who did what, when and from where. Written by services, never edited."""

    id = models.BigAutoField(primary_key=True)
    # Set by audit.record before hashing (not auto_now_add, which would change it after).
    at = models.DateTimeField(default=timezone.now, db_index=True)
    actor = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.PROTECT, related_name="audit_events"
    )
    actor_label = models.CharField(max_length=200, help_text="user name, merchant or 'system'")
    ip = models.GenericIPAddressField(null=True, blank=True)
    action = models.CharField(max_length=100, db_index=True)
    target_type = models.CharField(max_length=100)
    target_id = models.CharField(max_length=255, db_index=True)
    before = models.JSONField(null=True, blank=True)
    after = models.JSONField(null=True, blank=True)
    detail = models.JSONField(default=dict, blank=True)
    # Tamper evidence: each event carries the hash of the one before it (in id order)
    # and its own, over every field above; `manage.py verify_audit` walks the chain.
    prev_hash = models.CharField(max_length=64, blank=True)
    hash = models.CharField(max_length=64, blank=True)

    class Meta:
        ordering = ["-at", "-id"]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M:%S} {self.actor_label} {self.action}"
