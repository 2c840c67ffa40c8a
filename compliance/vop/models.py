"""Every Verification of Payee request answered for a peer, or made by this hub: the back
office's record (who asked what about which IBAN, and what was answered), and what the
responder counts to hold each peer to its rate."""

from __future__ import annotations

from django.db import models
from django.utils import timezone


class PayeeVerification(models.Model):
    class Direction(models.TextChoices):
        INBOUND = "in", "Answered to a peer"
        OUTBOUND = "out", "Asked by this hub"

    class Result(models.TextChoices):
        MTCH = "MTCH", "Match"
        CMTC = "CMTC", "Close match"
        NMTC = "NMTC", "No match"
        NOAP = "NOAP", "Not possible"

    id = models.BigAutoField(primary_key=True)
    direction = models.CharField(max_length=3, choices=Direction.choices)
    # The peer that asked (in) or was asked (out); none for this hub's own accounts.
    peer = models.ForeignKey(
        "clearing.Peer", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    request_id = models.UUIDField(null=True, blank=True, help_text="X-Request-ID")
    iban = models.CharField(max_length=34)
    name = models.CharField(max_length=140, blank=True, help_text="the name asked about")
    result = models.CharField(max_length=4, choices=Result.choices)
    matched_name = models.CharField(max_length=140, blank=True, help_text="given with CMTC only")
    # Why a request out ended NOAP without the peer's answer (time-out, refusal...).
    error = models.CharField(max_length=300, blank=True)
    # Who asked, for requests out: the merchant (an API payment, a batch, the endpoint).
    merchant = models.ForeignKey(
        "accounts.Merchant", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    purpose = models.CharField(max_length=20, blank=True, help_text="api, payment, batch")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        app_label = "compliance"
        ordering = ["-id"]
        indexes = [
            # The responder's rate per peer: requests of the last minute.
            models.Index(fields=["peer", "direction", "created_at"], name="vop_peer_recent"),
            models.Index(fields=["iban"], name="vop_iban"),
            models.Index(fields=["-created_at"], name="vop_newest"),
        ]

    def __str__(self) -> str:
        return f"{self.get_direction_display()} {self.iban} {self.result}"
