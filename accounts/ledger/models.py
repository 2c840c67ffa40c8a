"""Merchants, accounts and the double-entry ledger: transactions, entries, holds.

Balances are integers in minor units. `Account.balance` and `Account.held`
are caches of the ledger that only `accounts.ledger.posting` writes, under row locks;
`verify_ledger` recomputes them from the entries.
"""

from __future__ import annotations

import uuid

from django.contrib.postgres.indexes import BrinIndex
from django.db import models
from django.db.models import F, Q
from django.utils import timezone

from accounts.ledger import currency as iso4217
from common.sealed import SealedTextField


class Merchant(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    name = models.CharField(max_length=200)
    webhook_url = models.URLField(blank=True, max_length=500)
    # Sealed with a key that is not in the database (common/sealed.py).
    webhook_secret = SealedTextField(editable=False)
    # Four eyes per merchant: a batch needs a second approver above these (major units of
    # the batch's currency); empty means the settings' BATCH_SECOND_APPROVAL_* default.
    second_approval_above = models.DecimalField(
        max_digits=20,
        decimal_places=3,
        null=True,
        blank=True,
        help_text="A batch total above this needs two approvers (empty: the hub's default).",
    )
    second_approval_row_above = models.DecimalField(
        max_digits=20,
        decimal_places=3,
        null=True,
        blank=True,
        help_text="A batch row above this needs two approvers (empty: the hub's default).",
    )
    # Verification of Payee skipped for batches (a business customer's opt-out, IPR Art. 5c).
    vop_batch_opt_out = models.BooleanField(default=False, db_default=False)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Account(models.Model):
    class Kind(models.TextChoices):
        CUSTOMER = "customer", "Customer"
        SYSTEM = "system", "System"

    class Status(models.TextChoices):
        ACTIVE = "active", "Active"
        FROZEN = "frozen", "Frozen"
        CLOSED = "closed", "Closed"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    number = models.CharField(max_length=34, unique=True)
    name = models.CharField(max_length=140, blank=True, help_text="The account holder's name.")
    currency = models.CharField(max_length=3, choices=iso4217.CHOICES)
    merchant = models.ForeignKey(
        Merchant, null=True, blank=True, on_delete=models.PROTECT, related_name="accounts"
    )
    kind = models.CharField(max_length=10, choices=Kind.choices, default=Kind.CUSTOMER)
    status = models.CharField(
        max_length=10, choices=Status.choices, default=Status.ACTIVE, db_index=True
    )
    balance = models.BigIntegerField(default=0, editable=False)
    held = models.BigIntegerField(default=0, editable=False)
    overdraft_limit = models.BigIntegerField(
        default=0, editable=False, help_text="Only system accounts may go below zero."
    )
    # Instant payment limits in minor units (IPR Art. 5a(6)); null: none.
    instant_limit_per_payment = models.BigIntegerField(null=True, blank=True, editable=False)
    instant_limit_per_day = models.BigIntegerField(null=True, blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["number"]
        constraints = [
            models.CheckConstraint(
                name="account_available_not_below_limit",
                condition=Q(balance__gte=F("held") - F("overdraft_limit")),
                violation_error_message="available balance may not go below zero",
            ),
            models.CheckConstraint(name="account_held_not_negative", condition=Q(held__gte=0)),
            models.CheckConstraint(
                name="account_overdraft_only_for_system",
                condition=Q(overdraft_limit=0) | Q(kind="system", overdraft_limit__gt=0),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.number} ({self.currency})"

    @property
    def available(self) -> int:
        return self.balance - self.held


class LedgerTransaction(models.Model):
    """One movement of money: two or more entries that sum to zero."""

    class Kind(models.TextChoices):
        FUNDING = "funding", "Funding"
        TRANSFER = "transfer", "Transfer"
        CAPTURE = "capture", "Capture of a hold"
        REFUND = "refund", "Refund"
        REVERSAL = "reversal", "Reversal"

    id = models.BigAutoField(primary_key=True)
    kind = models.CharField(max_length=20, choices=Kind.choices)
    currency = models.CharField(max_length=3)
    amount = models.BigIntegerField(help_text="The amount moved, in minor units.")
    reference = models.CharField(max_length=140, blank=True, db_index=True)
    description = models.CharField(max_length=255, blank=True)
    # Reversed at most once (a partial unique constraint: the many transactions that
    # reverse nothing cost that index nothing).
    reverses = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="reversals",
        db_index=False,
    )
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-id"]
        constraints = [
            models.CheckConstraint(
                name="ledger_transaction_amount_positive", condition=Q(amount__gt=0)
            ),
            models.UniqueConstraint(
                fields=["reverses"],
                name="ledger_reversed_once",
                condition=Q(reverses__isnull=False),
            ),
        ]

    def __str__(self) -> str:
        return f"LT{self.pk} {self.kind}"


class LedgerEntry(models.Model):
    """One leg of a transaction: credit (positive) or debit (negative). Never updated."""

    id = models.BigAutoField(primary_key=True)
    transaction = models.ForeignKey(
        LedgerTransaction, on_delete=models.PROTECT, related_name="entries"
    )
    # Indexed by entry_account_newest (account, -id).
    account = models.ForeignKey(
        Account, on_delete=models.PROTECT, related_name="entries", db_index=False
    )
    amount = models.BigIntegerField()
    currency = models.CharField(max_length=3)
    balance_after = models.BigIntegerField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-id"]
        verbose_name_plural = "ledger entries"
        indexes = [
            models.Index(fields=["account", "-id"], name="entry_account_newest"),
            # Entries are appended in time order: a BRIN index of a few pages serves the
            # back office's date filters.
            BrinIndex(fields=["created_at"], name="entry_created_brin"),
        ]
        constraints = [
            models.CheckConstraint(name="ledger_entry_amount_not_zero", condition=~Q(amount=0))
        ]

    def __str__(self) -> str:
        return f"{self.account_id} {self.amount:+d}"


class Hold(models.Model):
    """Funds set aside on an account (an authorization) until captured or released."""

    class Status(models.TextChoices):
        ACTIVE = "active", "Active"
        CAPTURED = "captured", "Captured"
        RELEASED = "released", "Released"

    id = models.BigAutoField(primary_key=True)
    account = models.ForeignKey(Account, on_delete=models.PROTECT, related_name="holds")
    amount = models.BigIntegerField()
    currency = models.CharField(max_length=3)
    status = models.CharField(
        max_length=10, choices=Status.choices, default=Status.ACTIVE, db_index=True
    )
    captured_amount = models.BigIntegerField(default=0)
    # Given back before the hold closed: a batch row that failed returns its share.
    released_amount = models.BigIntegerField(default=0)
    capture_transaction = models.OneToOneField(
        LedgerTransaction, null=True, blank=True, on_delete=models.PROTECT, related_name="hold"
    )
    reference = models.CharField(max_length=140, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    closed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]
        constraints = [
            models.CheckConstraint(name="hold_amount_positive", condition=Q(amount__gt=0)),
            models.CheckConstraint(
                name="hold_captured_within_amount",
                condition=Q(captured_amount__gte=0, captured_amount__lte=F("amount")),
            ),
            models.CheckConstraint(
                name="hold_drawn_within_amount",
                condition=Q(
                    released_amount__gte=0,
                    amount__gte=F("captured_amount") + F("released_amount"),
                ),
            ),
        ]

    def __str__(self) -> str:
        # What the admin shows for a payment's hold: the amount and the account's number,
        # not a database id and a UUID.
        from accounts.ledger import money

        number = self.account.number if self.account_id else "?"
        return f"{money.display(self.amount, self.currency)} held on {number} ({self.status})"


class InstantLimitChange(models.Model):
    """A change of an account's instant limits (accounts/ledger/limits.py).

    A lower limit is applied at once (kept here as `applied`, no second person needed); a
    higher one, or none where there was one, waits `pending` for a second person through
    the gate, never the person who asked. `sets_*` say which limits the change touches (a
    limit's value may be null: none). One pending change per account; a new request
    supersedes it."""

    class Status(models.TextChoices):
        PENDING = "pending", "Waiting for a second person"
        APPLIED = "applied", "Applied"
        REJECTED = "rejected", "Rejected"
        SUPERSEDED = "superseded", "Superseded by a later request"

    id = models.BigAutoField(primary_key=True)
    account = models.ForeignKey(
        Account, on_delete=models.PROTECT, related_name="instant_limit_changes"
    )
    sets_per_payment = models.BooleanField(default=False)
    per_payment = models.BigIntegerField(null=True, blank=True, help_text="minor units; none")
    sets_per_day = models.BooleanField(default=False)
    per_day = models.BigIntegerField(null=True, blank=True, help_text="minor units; none")
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.PENDING)
    requested_by = models.ForeignKey(
        "accounts.Person",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        help_text="the person who asked (for an API key, the person who created the key)",
    )
    requested_by_user = models.ForeignKey(
        "accounts.User", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    requested_via = models.CharField(max_length=200, help_text="the user or the API key")
    requested_at = models.DateTimeField(default=timezone.now)
    decided_by = models.ForeignKey(
        "accounts.Person", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    decided_by_user = models.ForeignKey(
        "accounts.User", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    decision = models.ForeignKey(
        "accounts.Decision", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    reason = models.CharField(max_length=500, blank=True)

    class Meta:
        ordering = ["-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["account"],
                condition=Q(status="pending"),
                name="instant_limit_one_pending_per_account",
            ),
            # Four eyes: whoever asked never confirms (compared as persons).
            models.CheckConstraint(
                name="instant_limit_not_decided_by_requester",
                condition=Q(decided_by__isnull=True)
                | Q(requested_by__isnull=True)
                | ~Q(decided_by=F("requested_by")),
            ),
            models.CheckConstraint(
                name="instant_limit_positive",
                condition=(Q(per_payment__isnull=True) | Q(per_payment__gt=0))
                & (Q(per_day__isnull=True) | Q(per_day__gt=0)),
            ),
        ]

    def __str__(self) -> str:
        return f"instant limits of {self.account} ({self.status})"
