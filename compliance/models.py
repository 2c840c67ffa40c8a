"""Sanctions lists, their entries and names, screening alerts and their four-eyes decisions.

The app sits above payments: it reads merchants, accounts, payments (and batch rows by a
query of its own, batches never being imported) and nothing below imports it.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q


class Source(models.TextChoices):
    EU = "eu", "EU financial sanctions (FSF)"
    UN = "un", "UN Security Council consolidated list"
    OFAC = "ofac", "US OFAC SDN list"


class SanctionsList(models.Model):
    """One imported version of a published list. The newest import of a source is current."""

    source = models.CharField(max_length=4, choices=Source.choices)
    version = models.CharField(max_length=100, help_text="As the file names it (date generated).")
    published = models.DateField(null=True, blank=True)
    imported_at = models.DateTimeField(auto_now_add=True)
    sha256 = models.CharField(max_length=64, help_text="Of the files, in the order given.")
    files = models.JSONField(default=list)
    entry_count = models.PositiveIntegerField(default=0)
    name_count = models.PositiveIntegerField(default=0)
    current = models.BooleanField(default=True)
    imported_by = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["-imported_at"]
        constraints = [
            # Importing the same files again changes nothing.
            models.UniqueConstraint(fields=["source", "sha256"], name="sanctionslist_source_sha"),
            models.UniqueConstraint(
                fields=["source"], condition=Q(current=True), name="sanctionslist_one_current"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.source} {self.version}"


class SanctionsEntry(models.Model):
    class Kind(models.TextChoices):
        PERSON = "person", "Person"
        ENTITY = "entity", "Entity"
        OTHER = "other", "Other (vessel, aircraft...)"

    id = models.BigAutoField(primary_key=True)
    sanctions_list = models.ForeignKey(
        SanctionsList, on_delete=models.CASCADE, related_name="entries"
    )
    reference = models.CharField(max_length=100, help_text="The list's own id of the entry.")
    kind = models.CharField(max_length=10, choices=Kind.choices)
    name = models.CharField(max_length=500)
    programme = models.CharField(max_length=500, blank=True)
    remarks = models.TextField(blank=True)
    content_hash = models.CharField(
        max_length=64,
        help_text="Of its names, kind and programme: a whitelist lasts until it changes.",
    )

    class Meta:
        verbose_name_plural = "sanctions entries"
        constraints = [
            models.UniqueConstraint(
                fields=["sanctions_list", "reference"], name="sanctionsentry_list_reference"
            )
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.reference})"


class SanctionsName(models.Model):
    """A name or alias of an entry, with its normalised form: the screening index's rows."""

    id = models.BigAutoField(primary_key=True)
    entry = models.ForeignKey(SanctionsEntry, on_delete=models.CASCADE, related_name="names")
    name = models.CharField(max_length=500)
    normalised = models.CharField(max_length=500)
    abjad = models.BooleanField(default=False)
    alias = models.BooleanField(default=False)

    class Meta:
        indexes = [models.Index(fields=["normalised"], name="sanctionsname_normalised")]

    def __str__(self) -> str:
        return self.name


class SubjectType(models.TextChoices):
    MERCHANT = "merchant", "Merchant"
    ACCOUNT = "account", "Account holder"
    PAYEE = "payee", "Stored payee"


class ScreeningAlert(models.Model):
    class Status(models.TextChoices):
        OPEN = "open", "Open"
        FALSE_POSITIVE = "false_positive", "False positive"
        CONFIRMED = "confirmed", "Confirmed"

    id = models.BigAutoField(primary_key=True)
    subject_type = models.CharField(max_length=10, choices=SubjectType.choices)
    # A merchant's or an account's id; a payee's account number (IBAN).
    subject_ref = models.CharField(max_length=100)
    name = models.CharField(max_length=500, help_text="The name screened.")
    entry = models.ForeignKey(SanctionsEntry, on_delete=models.PROTECT, related_name="alerts")
    matched_name = models.CharField(max_length=500)
    # Copied from the entry so that a whitelist outlives the list version it was decided on.
    source = models.CharField(max_length=4, choices=Source.choices)
    reference = models.CharField(max_length=100)
    content_hash = models.CharField(max_length=64)
    score = models.DecimalField(max_digits=4, decimal_places=1)
    status = models.CharField(max_length=15, choices=Status.choices, default=Status.OPEN)
    created_at = models.DateTimeField(auto_now_add=True)
    decided_at = models.DateTimeField(null=True, blank=True)
    reason = models.TextField(blank=True)
    proposed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["subject_type", "subject_ref"], name="alert_subject"),
            models.Index(fields=["status"], name="alert_status"),
        ]

    def __str__(self) -> str:
        return f"alert {self.pk}: {self.name} ~ {self.matched_name} ({self.status})"

    @property
    def subject(self) -> str:
        return f"{self.subject_type}:{self.subject_ref}"


class AlertProposal(models.Model):
    """The first of the four eyes: a proposed decision, waiting for a second, different person.

    One service function, `compliance.services.alert_decide`, writes these; the hub's coming
    single decision gate can call it as it stands."""

    class Decision(models.TextChoices):
        FALSE_POSITIVE = "false_positive", "False positive"
        CONFIRMED = "confirmed", "Confirmed match"

    class Status(models.TextChoices):
        PENDING = "pending", "Awaiting a second person"
        APPROVED = "approved", "Approved"
        REJECTED = "rejected", "Rejected by the second person"

    id = models.BigAutoField(primary_key=True)
    alert = models.ForeignKey(ScreeningAlert, on_delete=models.CASCADE, related_name="proposals")
    decision = models.CharField(max_length=15, choices=Decision.choices)
    reason = models.TextField()
    proposed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    proposed_at = models.DateTimeField(auto_now_add=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    second_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    second_at = models.DateTimeField(null=True, blank=True)
    second_reason = models.TextField(blank=True)

    class Meta:
        ordering = ["-proposed_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["alert"], condition=Q(status="pending"), name="alertproposal_one_pending"
            )
        ]

    def __str__(self) -> str:
        return f"{self.decision} proposed on alert {self.alert_id} ({self.status})"


class Whitelist(models.Model):
    """A false positive: this subject is not this entry, until the entry's content changes."""

    id = models.BigAutoField(primary_key=True)
    subject_type = models.CharField(max_length=10, choices=SubjectType.choices)
    subject_ref = models.CharField(max_length=100)
    source = models.CharField(max_length=4, choices=Source.choices)
    reference = models.CharField(max_length=100)
    content_hash = models.CharField(max_length=64)
    alert = models.ForeignKey(ScreeningAlert, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["subject_type", "subject_ref", "source", "reference", "content_hash"],
                name="whitelist_subject_entry",
            )
        ]

    def __str__(self) -> str:
        return f"{self.subject_type}:{self.subject_ref} is not {self.source} {self.reference}"


# Verification of Payee keeps its record in its own package (compliance/vop/).
from compliance.vop.models import PayeeVerification  # noqa: E402, F401
