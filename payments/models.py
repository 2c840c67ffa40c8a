"""Payments, refunds, merchant API keys, idempotency records and webhook deliveries.

Money is never moved here: a payment points at the ledger hold and the
ledger transactions that `accounts.ledger` wrote for it.
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from rest_framework_api_key.models import AbstractAPIKey

from accounts.models import Account, Hold, LedgerTransaction, Merchant


class MerchantAPIKey(AbstractAPIKey):
    """A merchant's API key: shown once, stored hashed, revocable; many per merchant."""

    merchant = models.ForeignKey(Merchant, on_delete=models.PROTECT, related_name="api_keys")
    last_used_at = models.DateTimeField(null=True, blank=True)
    # Whoever created the key: what is initiated with it is that person's (four eyes
    # compares persons through every channel). Empty for a key made by a command.
    created_by = models.ForeignKey(
        "accounts.Person", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    # A key made by a person works only once another person approved it through the gate
    # (four eyes: a key moves the merchant's money); a command on the server approves its own.
    approved_by = models.ForeignKey(
        "accounts.Person", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    approved_at = models.DateTimeField(null=True, blank=True)

    class Meta(AbstractAPIKey.Meta):
        verbose_name = "merchant API key"
        verbose_name_plural = "merchant API keys"


class Payment(models.Model):
    class Status(models.TextChoices):
        CREATED = "created", "Created"
        AUTHORIZED = "authorized", "Authorized"
        COMPLETED = "completed", "Completed"
        VOIDED = "voided", "Voided"
        EXPIRED = "expired", "Expired"
        FAILED = "failed", "Failed"
        REFUNDED = "refunded", "Refunded"
        PARTIALLY_REFUNDED = "partially_refunded", "Partially refunded"
        # A transfer to another bank whose answer is not known yet (funds moved to the
        # peer's clearing account), and one the other bank sent back (pacs.004).
        PENDING = "pending", "Pending (sent to another bank)"
        RETURNED = "returned", "Returned"

    class Direction(models.TextChoices):
        OUTGOING = "outgoing", "Outgoing"
        INCOMING = "incoming", "Incoming (from another bank)"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    # Indexed by payment_merchant_newest (merchant, -created_at, -id).
    # None only for a transfer another bank paid into an account no merchant owns (the back
    # office sees it, and can return it).
    merchant = models.ForeignKey(
        Merchant,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="payments",
        db_index=False,
    )
    # Indexed by payment_debtor_creditor (debtor, creditor): by debtor, and by pair.
    debtor_account = models.ForeignKey(
        Account, on_delete=models.PROTECT, related_name="payments_out", db_index=False
    )
    creditor_account = models.ForeignKey(
        Account, on_delete=models.PROTECT, related_name="payments_in"
    )
    amount = models.BigIntegerField(editable=False)
    currency = models.CharField(max_length=3, editable=False)
    captured_amount = models.BigIntegerField(default=0, editable=False)
    refunded_amount = models.BigIntegerField(default=0, editable=False)
    status = models.CharField(max_length=20, choices=Status.choices)  # see payment_status_expiry
    reference = models.CharField(max_length=140, blank=True)
    end_to_end_id = models.CharField(max_length=35, blank=True)
    authorization_code = models.CharField(max_length=12, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    failure_code = models.CharField(max_length=40, blank=True)
    failure_message = models.CharField(max_length=255, blank=True)
    # One payment per hold (a partial unique constraint below: most payments, captured
    # at once or from a batch, have no hold and cost that index nothing).
    hold = models.ForeignKey(
        Hold,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="payments",
        db_index=False,
    )
    ledger_transaction = models.OneToOneField(
        LedgerTransaction,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="payment",
        help_text="The posting that completed the payment.",
    )
    api_key = models.ForeignKey(
        MerchantAPIKey,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="payments",
        db_index=False,
    )
    # A batch row's payment: (batch_id, batch_row) is unique, so a re-run of a
    # batch can never pay a row twice. A plain id, not a foreign key, because
    # batches depend on payments and not the other way round.
    batch_id = models.UUIDField(null=True, blank=True)
    batch_row = models.PositiveIntegerField(null=True, blank=True)
    # Interbank transfers (clearing/ writes these; an on-us payment leaves them empty). The
    # other bank's side of the payment is named here: for an outgoing transfer the
    # creditor_account is the peer's clearing account and the creditor is creditor_iban at
    # creditor_agent; for an incoming one the debtor is debtor_iban at debtor_agent.
    direction = models.CharField(
        max_length=8,
        choices=Direction.choices,
        default=Direction.OUTGOING,
        db_default=Direction.OUTGOING,  # rows bulk-written by batches name no direction
    )
    debtor_name = models.CharField(max_length=140, blank=True, default="", db_default="")
    debtor_iban = models.CharField(max_length=34, blank=True, default="", db_default="")
    debtor_agent = models.CharField(
        max_length=11, blank=True, default="", db_default="", help_text="the debtor's bank BIC"
    )
    creditor_name = models.CharField(max_length=140, blank=True, default="", db_default="")
    creditor_iban = models.CharField(max_length=34, blank=True, default="", db_default="")
    creditor_agent = models.CharField(
        max_length=11, blank=True, default="", db_default="", help_text="the creditor's bank BIC"
    )
    creditor_address = models.JSONField(null=True, blank=True)
    debtor_address = models.JSONField(null=True, blank=True)
    # Verification of Payee: {"result": MTCH|CMTC|NMTC|NOAP, "matched_name"}.
    verification = models.JSONField(null=True, blank=True)
    uetr = models.UUIDField(null=True, blank=True, help_text="the transfer's UETR between banks")
    # {"scheme", "peer_bic", "message_id", "uetr", "status", "reason_code"}: CONTRACT.md.
    clearing = models.JSONField(null=True, blank=True)
    # {"status": "requested"|"accepted"|"refused", "reason"}: a recall of the transfer.
    recall = models.JSONField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["merchant", "-created_at", "-id"], name="payment_merchant_newest"),
            # A batch's new-payee check probes one (debtor, creditor) pair at a time: with the
            # debtor's index alone, a payroll account's every earlier payment was read per pair.
            models.Index(
                fields=["debtor_account", "creditor_account"], name="payment_debtor_creditor"
            ),
            models.Index(fields=["reference"], name="payment_reference"),
            # Only authorizations expire: a partial index the other payments never touch.
            models.Index(
                fields=["expires_at"],
                name="payment_authorized_expiry",
                condition=Q(status="authorized"),
            ),
            models.Index(fields=["-created_at"], name="payment_newest"),
            models.Index(fields=["amount"], name="payment_amount"),
            # The back office's filters by status and currency, newest first. Its searches
            # for a fragment of a reference or an end-to-end id use the trigram indexes
            # of migration 0005 (payment_reference_trgm, payment_e2e_trgm).
            models.Index(fields=["status", "-created_at"], name="payment_status_newest"),
            # The back office's "failure code" filter: refused payments only, a small share.
            models.Index(
                fields=["failure_code", "-created_at"],
                name="payment_failure_code",
                condition=~Q(failure_code=""),
            ),
            models.Index(fields=["currency", "-created_at"], name="payment_currency_newest"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["hold"], name="payment_one_per_hold", condition=Q(hold__isnull=False)
            ),
            models.UniqueConstraint(
                fields=["batch_id", "batch_row"],
                name="payment_one_per_batch_row",
                condition=Q(batch_id__isnull=False),
            ),
            # One payment per transfer and direction: a resent pacs.008 is never booked twice.
            models.UniqueConstraint(
                fields=["direction", "uetr"],
                name="payment_one_per_uetr",
                condition=Q(uetr__isnull=False),
            ),
            models.CheckConstraint(name="payment_amount_positive", condition=Q(amount__gt=0)),
            models.CheckConstraint(
                name="payment_captured_within_amount",
                condition=Q(captured_amount__gte=0, captured_amount__lte=F("amount")),
            ),
            models.CheckConstraint(
                name="payment_refunded_within_captured",
                condition=Q(refunded_amount__gte=0, refunded_amount__lte=F("captured_amount")),
            ),
        ]

    def __str__(self) -> str:
        return f"payment {self.id}"

    @property
    def refundable_amount(self) -> int:
        return self.captured_amount - self.refunded_amount


class Refund(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    payment = models.ForeignKey(Payment, on_delete=models.PROTECT, related_name="refunds")
    amount = models.BigIntegerField(editable=False)
    currency = models.CharField(max_length=3, editable=False)
    reason = models.CharField(max_length=255, blank=True)
    ledger_transaction = models.OneToOneField(
        LedgerTransaction, on_delete=models.PROTECT, related_name="refund"
    )
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(name="refund_amount_positive", condition=Q(amount__gt=0))
        ]

    def __str__(self) -> str:
        return f"refund {self.id}"


class IdempotencyRecord(models.Model):
    """The first response to a merchant's `Idempotency-Key`, replayed for repeats."""

    id = models.BigAutoField(primary_key=True)
    merchant = models.ForeignKey(Merchant, on_delete=models.CASCADE, related_name="+")
    key = models.CharField(max_length=255)
    fingerprint = models.CharField(max_length=64, help_text="SHA-256 of method, path and body")
    response_status = models.PositiveSmallIntegerField()
    response_body = models.JSONField()
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["merchant", "key"], name="idempotency_key_per_merchant")
        ]

    def __str__(self) -> str:
        return self.key


class WebhookDelivery(models.Model):
    """One event for one merchant, delivered with retries (Standard Webhooks)."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        DELIVERED = "delivered", "Delivered"
        FAILED = "failed", "Failed (gave up)"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    merchant = models.ForeignKey(Merchant, on_delete=models.PROTECT, related_name="webhooks")
    # The payment a `payment.*` event is about (indexed below for the payment's page).
    payment = models.ForeignKey(
        Payment,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="webhook_deliveries",
        db_index=False,
    )
    event_type = models.CharField(max_length=50, db_index=True)
    url = models.URLField(max_length=500)
    payload = models.JSONField()
    status = models.CharField(
        max_length=10, choices=Status.choices, default=Status.PENDING, db_index=True
    )
    attempt_count = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name_plural = "webhook deliveries"
        indexes = [
            models.Index(
                fields=["payment", "created_at"],
                name="webhook_by_payment",
                condition=Q(payment__isnull=False),
            )
        ]

    def __str__(self) -> str:
        return f"{self.event_type} {self.id}"

    @property
    def message_id(self) -> str:
        return f"msg_{self.id.hex}"


class WebhookAttempt(models.Model):
    id = models.BigAutoField(primary_key=True)
    delivery = models.ForeignKey(WebhookDelivery, on_delete=models.CASCADE, related_name="attempts")
    at = models.DateTimeField()
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    error = models.CharField(max_length=255, blank=True)
    response_excerpt = models.CharField(max_length=500, blank=True)
    duration_ms = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["at"]

    def __str__(self) -> str:
        return f"attempt at {self.at:%Y-%m-%d %H:%M:%S}"


class BackOfficeAction(models.Model):
    """A back-office clerk's action on a payment or a webhook delivery, with its reason.

    Carried out at once when its amount is at most BACKOFFICE_SECOND_APPROVAL_ABOVE;
    above that it waits for a second member of staff, who can never be the one who asked
    (a CHECK constraint says so too).
    """

    class Kind(models.TextChoices):
        REFUND = "refund", "Refund a payment"
        VOID = "void", "Void an authorization"
        REVERSE = "reverse", "Reverse a batch payment"
        WEBHOOK_RETRY = "webhook_retry", "Retry a webhook delivery"
        # Transfers received from another bank (carried out by the clearing app).
        CLEARING_RETURN = "clearing_return", "Return a received transfer"
        RECALL_ACCEPT = "recall_accept", "Accept a recall"
        RECALL_REFUSE = "recall_refuse", "Refuse a recall"

    class Status(models.TextChoices):
        PENDING = "pending", "Awaiting a second approval"
        DONE = "done", "Done"
        REJECTED = "rejected", "Rejected"
        FAILED = "failed", "Failed"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    kind = models.CharField(max_length=20, choices=Kind.choices)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    payment = models.ForeignKey(
        Payment, null=True, blank=True, on_delete=models.PROTECT, related_name="backoffice_actions"
    )
    webhook_delivery = models.ForeignKey(
        WebhookDelivery,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="backoffice_actions",
    )
    amount = models.BigIntegerField(
        null=True, blank=True, editable=False, help_text="minor units; none for a retry"
    )
    currency = models.CharField(max_length=3, blank=True, editable=False)
    reason = models.CharField(max_length=500)
    reason_code = models.CharField(
        max_length=4,
        blank=True,
        editable=False,
        help_text="the ISO reason told the other bank (a return, a recall's refusal)",
    )
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    requested_at = models.DateTimeField(auto_now_add=True, db_index=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    decision_reason = models.CharField(max_length=500, blank=True)
    outcome = models.CharField(max_length=500, blank=True, help_text="what was done, or why not")

    class Meta:
        ordering = ["-requested_at"]
        indexes = [
            models.Index(
                fields=["requested_at"],
                name="backoffice_action_pending",
                condition=Q(status="pending"),
            )
        ]
        constraints = [
            models.CheckConstraint(
                name="backoffice_action_four_eyes",
                condition=Q(decided_by__isnull=True) | ~Q(decided_by=F("requested_by")),
                violation_error_message="whoever asked for an action may not approve it",
            ),
            models.CheckConstraint(
                name="backoffice_action_has_a_target",
                condition=Q(payment__isnull=False) | Q(webhook_delivery__isnull=False),
            ),
            models.CheckConstraint(name="backoffice_action_reason_given", condition=~Q(reason="")),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} ({self.get_status_display()})"
