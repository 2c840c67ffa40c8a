"""People and the audit trail: the hub's users and what they did.

`AuditEvent` rows are written by services through `accounts.identity.audit`, never edited.
"""

from __future__ import annotations

from django.contrib.auth.models import AbstractUser
from django.db import models
from django.utils import timezone


class Person(models.Model):
    """A human being, the unit of duty: every user account of the same person (a second
    admin account, say) and every API key one of them created belong to it, and the rule
    "who initiated may not approve" compares persons, never user rows."""

    id = models.BigAutoField(primary_key=True)
    name = models.CharField(max_length=200)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return self.name


class User(AbstractUser):
    """A sign-in of a person: operator, approver, back-office admin, or a merchant's user."""

    person = models.ForeignKey(
        Person,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="users",
        help_text="Who this sign-in belongs to; set on creation (a new person unless linked).",
    )

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


class RoleGrant(models.Model):
    """A role given to a person: asked for by one member of staff, approved by another
    (never the person who receives it), effective once approved; money decisions read
    these grants only, never a group name, a superuser flag or an admin setting."""

    id = models.BigAutoField(primary_key=True)
    person = models.ForeignKey(Person, on_delete=models.PROTECT, related_name="grants")
    role = models.CharField(max_length=40)
    requested_by = models.ForeignKey(
        Person,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        help_text="empty for a grant made by a command on the server (bootstrap)",
    )
    requested_at = models.DateTimeField(default=timezone.now)
    approved_by = models.ForeignKey(
        Person, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    approved_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    reason = models.CharField(max_length=500, blank=True)

    class Meta:
        constraints = [
            # Four eyes on a grant: the approver is neither who asked nor who receives it.
            models.CheckConstraint(
                name="rolegrant_four_eyes",
                condition=models.Q(approved_by__isnull=True)
                | (
                    ~models.Q(approved_by=models.F("person"))
                    & (
                        models.Q(requested_by__isnull=True)
                        | ~models.Q(approved_by=models.F("requested_by"))
                    )
                ),
            ),
            models.UniqueConstraint(
                fields=["person", "role"],
                condition=models.Q(revoked_at__isnull=True),
                name="rolegrant_one_live_per_role",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.role} for {self.person}"


class Decision(models.Model):
    """One pass through the gate (accounts/identity/gate.py): a person's signed decision on
    something that moves money or changes who may move it. Written with the decision, never
    edited; the database refuses a decision by the person who initiated its subject."""

    class Verdict(models.TextChoices):
        INITIATE = "initiate", "Initiated"
        APPROVE = "approve", "Approved"
        REJECT = "reject", "Rejected"

    id = models.BigAutoField(primary_key=True)
    kind = models.CharField(max_length=40, db_index=True)
    subject_type = models.CharField(max_length=100)
    subject_id = models.CharField(max_length=200)
    verdict = models.CharField(max_length=10, choices=Verdict.choices)
    person = models.ForeignKey(Person, on_delete=models.PROTECT, related_name="decisions")
    user = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    initiator = models.ForeignKey(
        Person,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        help_text="who initiated the subject (empty: the merchant's systems or the hub)",
    )
    amount = models.BigIntegerField(null=True, blank=True, help_text="minor units")
    currency = models.CharField(max_length=3, blank=True)
    otp_time_step = models.BigIntegerField(help_text="the fresh authenticator code's time step")
    ip = models.GenericIPAddressField(null=True, blank=True)
    at = models.DateTimeField(default=timezone.now)
    detail = models.JSONField(default=dict, blank=True)

    class Meta:
        indexes = [models.Index(fields=["subject_type", "subject_id"], name="decision_subject")]
        constraints = [
            models.CheckConstraint(
                name="decision_not_by_initiator",
                condition=models.Q(verdict="initiate")
                | models.Q(initiator__isnull=True)
                | ~models.Q(person=models.F("initiator")),
            ),
            models.UniqueConstraint(
                fields=["kind", "subject_id", "person"],
                condition=~models.Q(verdict="initiate"),
                name="decision_once_per_person",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.verdict} by {self.person}"
