"""The hub's signing identity, its peers (other banks), their clearing accounts and every
ISO 20022 document exchanged with them.

A peer's clearing account (one per currency) is a system account of the ledger: credited
when this hub sends the peer a transfer, debited when the peer's transfer is credited here.
Its balance, negated, is the position with the peer (`clearing_position`).
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.db import models
from django.db.models import Q

from accounts.models import Account
from common.sealed import SealedTextField
from payments.models import Payment


class HubKey(models.Model):
    """The hub's Ed25519 signing key: the public half as is, the private half (base64 of its
    32 raw bytes) sealed with the keyring like every secret at rest (common/sealed.py), so
    `rotate_keys` re-seals it. One active row."""

    id = models.BigAutoField(primary_key=True)
    public_key = models.BinaryField(max_length=32, editable=False)
    private_key = SealedTextField(editable=False)
    active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["active"], condition=Q(active=True), name="hubkey_one_active"
            )
        ]

    def __str__(self) -> str:
        return f"hub key {self.pk}"


class Peer(models.Model):
    """Another bank: its BIC signs its messages (the RFC 9421 keyid), its URL takes ours."""

    id = models.BigAutoField(primary_key=True)
    bic = models.CharField(max_length=11, unique=True)
    # An http(s) base URL (checked by services.peer_save); messages go to /clearing/v1/messages/.
    url = models.CharField(max_length=300, help_text="base URL, e.g. http://10.0.0.2:8000")
    public_key = models.CharField(
        max_length=44, help_text="Ed25519 public key: base64 of the raw 32 bytes"
    )
    # Country code + start of the BBAN (IBAN check digits left out), e.g. DE37040044.
    iban_prefixes = ArrayField(models.CharField(max_length=30), default=list)
    active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["bic"]

    def __str__(self) -> str:
        return self.bic


class PeerChange(models.Model):
    """A peer added or changed in the admin: a proposal, applied only once a second admin
    approves it through the gate (a peer's key and URL decide whose messages are believed
    and where money goes). `before` is the peer as the proposer saw it (None: a new peer)."""

    class Status(models.TextChoices):
        PENDING = "pending", "Awaiting a second admin"
        APPROVED = "approved", "Approved and applied"
        REJECTED = "rejected", "Rejected"

    id = models.BigAutoField(primary_key=True)
    bic = models.CharField(max_length=11)
    url = models.CharField(max_length=300)
    public_key = models.CharField(max_length=44)
    iban_prefixes = ArrayField(models.CharField(max_length=30), default=list)
    before = models.JSONField(null=True, blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    proposed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    proposed_at = models.DateTimeField(auto_now_add=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    decision_reason = models.CharField(max_length=500, blank=True)

    class Meta:
        ordering = ["-proposed_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["bic"], condition=Q(status="pending"), name="peer_change_one_pending"
            ),
            models.CheckConstraint(
                name="peer_change_four_eyes",
                condition=Q(decided_by__isnull=True)
                | Q(status="rejected")
                | ~Q(decided_by=models.F("proposed_by")),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.bic} ({self.get_status_display()})"

    def after(self) -> dict[str, object]:
        return {
            "bic": self.bic,
            "url": self.url,
            "public_key": self.public_key,
            "iban_prefixes": list(self.iban_prefixes),
            "active": True,
        }


class ClearingAccount(models.Model):
    """The ledger account that holds the position with a peer in one currency."""

    id = models.BigAutoField(primary_key=True)
    peer = models.ForeignKey(Peer, on_delete=models.PROTECT, related_name="clearing_accounts")
    currency = models.CharField(max_length=3)
    account = models.OneToOneField(Account, on_delete=models.PROTECT, related_name="+")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["peer", "currency"], name="clearing_account_per_peer")
        ]

    def __str__(self) -> str:
        return f"{self.peer.bic} {self.currency}"


class Message(models.Model):
    """One ISO 20022 document sent to or received from a peer, kept as its bytes."""

    class Direction(models.TextChoices):
        INBOUND = "in", "Received"
        OUTBOUND = "out", "Sent"

    class Status(models.TextChoices):
        PENDING = "pending", "To send / no answer yet"
        SENT = "sent", "Sent and answered"
        RECEIVED = "received", "Received"
        ACCEPTED = "accepted", "Accepted (ACSC)"
        REJECTED = "rejected", "Rejected (RJCT)"

    id = models.BigAutoField(primary_key=True)
    direction = models.CharField(max_length=3, choices=Direction.choices)
    peer = models.ForeignKey(Peer, on_delete=models.PROTECT, related_name="messages")
    kind = models.CharField(max_length=20, help_text="e.g. pacs.008.001.08")
    msg_id = models.CharField(max_length=35)
    uetr = models.UUIDField(null=True, blank=True)
    status = models.CharField(max_length=10, choices=Status.choices)
    reason_code = models.CharField(max_length=4, blank=True)
    body = models.BinaryField(editable=False)
    # An answer points at the document it answers (a pacs.002 at its pacs.008).
    answers = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="answered_by"
    )
    payment = models.ForeignKey(
        Payment, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-id"]
        indexes = [
            models.Index(fields=["uetr"], name="clearing_message_uetr"),
            models.Index(fields=["msg_id"], name="clearing_message_msg_id"),
            models.Index(fields=["-created_at"], name="clearing_message_newest"),
        ]
        constraints = [
            # A peer's document is processed once: a resend finds it and its stored answer.
            models.UniqueConstraint(
                fields=["peer", "kind", "msg_id"],
                condition=Q(direction="in"),
                name="clearing_message_in_once",
            ),
            models.UniqueConstraint(
                fields=["peer", "kind", "uetr"],
                condition=Q(direction="in", kind="pacs.008.001.08"),
                name="clearing_transfer_in_once",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_direction_display()} {self.kind} {self.msg_id}"


class SeenSignature(models.Model):
    """Signatures of accepted requests, kept past the signature's maximum age: the same
    signed request again is a replay and is refused."""

    id = models.BigAutoField(primary_key=True)
    digest = models.CharField(max_length=64, unique=True)
    peer = models.ForeignKey(Peer, on_delete=models.CASCADE, related_name="+")
    seen_at = models.DateTimeField(auto_now_add=True, db_index=True)

    def __str__(self) -> str:
        return self.digest


def new_uetr() -> uuid.UUID:
    return uuid.uuid4()
