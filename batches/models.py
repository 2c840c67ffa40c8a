"""Batches of payments from uploaded files, their rows, and the four-eyes approvals.

A row is paid through a `payments.Payment` whose (batch_id, batch_row) is
unique, so no re-run of an execution can pay a row twice.
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q

from accounts.ledger import money
from accounts.models import Account, Hold, Merchant
from batches.storage import batch_file_storage
from iso20022 import addresses
from payments.models import MerchantAPIKey, Payment


class StoredFile(models.Model):
    """A stored batch file: its name (`Batch.file`) and the PostgreSQL large object of its bytes."""

    id = models.BigAutoField(primary_key=True)
    name = models.CharField(max_length=255, unique=True)
    oid = models.PositiveBigIntegerField(help_text="pg_largeobject_metadata.oid")
    size = models.BigIntegerField()
    sha256 = models.CharField(max_length=64)
    # HMAC of name, size and sha256 under a key that is not in the database (batches/storage.py):
    # rewriting the bytes and the digest together is still caught.
    mac = models.CharField(max_length=64, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return self.name


class Batch(models.Model):
    class Status(models.TextChoices):
        UPLOADED = "uploaded", "Uploaded"
        VALIDATING = "validating", "Validating"
        INVALID = "invalid", "Invalid"
        AWAITING_APPROVAL = "awaiting_approval", "Awaiting approval"
        REJECTED = "rejected", "Rejected"
        CANCELLED = "cancelled", "Cancelled"
        APPROVED = "approved", "Approved"
        SCHEDULED = "scheduled", "Scheduled"
        EXECUTING = "executing", "Executing"
        COMPLETED = "completed", "Completed"
        COMPLETED_WITH_ERRORS = "completed_with_errors", "Completed with errors"
        FAILED = "failed", "Failed"

    # A batch in one of these can pay nothing: its file may be uploaded again.
    REUSABLE = {"invalid", "cancelled", "rejected"}

    FINAL = {
        Status.INVALID,
        Status.REJECTED,
        Status.CANCELLED,
        Status.COMPLETED,
        Status.COMPLETED_WITH_ERRORS,
        Status.FAILED,
    }

    class Format(models.TextChoices):
        CSV = "csv", "CSV"
        PAIN_001_03 = "pain.001.001.03", "ISO 20022 pain.001.001.03"
        PAIN_001_09 = "pain.001.001.09", "ISO 20022 pain.001.001.09"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    merchant = models.ForeignKey(Merchant, on_delete=models.PROTECT, related_name="batches")
    debtor_account = models.ForeignKey(
        Account,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="batches",
        help_text="The account a CSV pays from; pain.001 names one per PmtInf block.",
    )
    status = models.CharField(
        max_length=25, choices=Status.choices, default=Status.UPLOADED, db_index=True
    )
    # In PostgreSQL (batches/storage.py): every host reads it, atomically with this row.
    file = models.FileField(upload_to="batches/%Y/%m/", max_length=255, storage=batch_file_storage)
    file_name = models.CharField(max_length=255)
    file_size = models.BigIntegerField(default=0)
    file_sha256 = models.CharField(max_length=64, db_index=True)
    format = models.CharField(max_length=20, choices=Format.choices, blank=True)
    message_id = models.CharField(max_length=35, blank=True, help_text="pain.001 GrpHdr/MsgId")
    # The file's own GrpHdr, exactly as written, for the pain.002 to echo.
    message_created_at = models.CharField(
        max_length=40, blank=True, help_text="pain.001 GrpHdr/CreDtTm as written"
    )
    declared_count = models.PositiveIntegerField(
        null=True, blank=True, help_text="pain.001 GrpHdr/NbOfTxs"
    )
    declared_control_sum = models.CharField(
        max_length=40, blank=True, help_text="pain.001 GrpHdr/CtrlSum as written"
    )
    execution_date = models.DateField(null=True, blank=True)
    currency = models.CharField(max_length=3, blank=True)
    item_count = models.PositiveIntegerField(default=0)
    valid_count = models.PositiveIntegerField(default=0)
    invalid_count = models.PositiveIntegerField(default=0)
    total_amount = models.BigIntegerField(default=0, help_text="sum of the valid rows")
    largest_amount = models.BigIntegerField(default=0, help_text="the largest valid row")
    processed_count = models.PositiveIntegerField(default=0)
    succeeded_count = models.PositiveIntegerField(default=0)
    failed_count = models.PositiveIntegerField(default=0)
    error_code = models.CharField(max_length=4, blank=True)
    error_message = models.CharField(max_length=500, blank=True)
    validated_sha256 = models.CharField(
        max_length=64, blank=True, help_text="what an approval binds to: file and valid rows"
    )
    content_sha256 = models.CharField(
        max_length=64,
        blank=True,
        help_text="the rows' canonical values, sorted: the same payments however the file is saved",
    )
    duplicate_of = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="duplicates",
        db_index=False,
        help_text="the earlier batch this file repeats (DUPL)",
    )
    flag_counts = models.JSONField(
        default=dict, blank=True, help_text="rows per flag: new_payee, largest, duplicate"
    )
    # What the approver signs off, counted once at validation (the valid rows never change
    # after it: execution only turns them paid or failed): per debtor account and currency,
    # {"debtor": number, "currency": code, "count": rows, "total": minor, "largest": minor}.
    valid_totals = models.JSONField(
        default=list, blank=True, help_text="valid rows per debtor account and currency"
    )
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="uploaded_batches",
    )
    api_key = models.ForeignKey(
        MerchantAPIKey, null=True, blank=True, on_delete=models.PROTECT, related_name="batches"
    )
    decision_reason = models.CharField(max_length=500, blank=True)
    # The merchant had opted out of Verification of Payee for batches when this one came.
    vop_opted_out = models.BooleanField(default=False, db_default=False)
    validated_at = models.DateTimeField(null=True, blank=True)
    approved_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name_plural = "batches"
        permissions = [("approve_batch", "Can approve or reject a batch")]
        indexes = [models.Index(fields=["merchant", "-created_at"], name="batch_merchant_newest")]
        constraints = [
            # The same file, or the same pain.001 MsgId, is accepted once per merchant.
            # Only batches that can still pay count (not invalid, cancelled or rejected).
            models.UniqueConstraint(
                fields=["merchant", "file_sha256"],
                name="batch_file_once_per_merchant",
                condition=~Q(status__in=["invalid", "cancelled", "rejected"]),
            ),
            models.UniqueConstraint(
                fields=["merchant", "message_id"],
                name="batch_msgid_once_per_merchant",
                condition=~Q(status__in=["invalid", "cancelled", "rejected"]) & ~Q(message_id=""),
            ),
            models.UniqueConstraint(
                fields=["merchant", "content_sha256"],
                name="batch_content_once_per_merchant",
                condition=~Q(status__in=["invalid", "cancelled", "rejected"])
                & ~Q(content_sha256=""),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.file_name} ({self.status})"

    @property
    def is_final(self) -> bool:
        return self.status in self.FINAL


class BatchItem(models.Model):
    class Status(models.TextChoices):
        VALID = "valid", "Valid"
        INVALID = "invalid", "Invalid"
        PAID = "paid", "Paid"
        FAILED = "failed", "Failed"
        # Sent to another bank (a pacs.008), its answer not known yet: not final.
        PENDING = "pending", "Pending (sent to another bank)"

    id = models.BigAutoField(primary_key=True)
    # No index of its own: the unique (batch, row) constraint's index serves.
    batch = models.ForeignKey(Batch, on_delete=models.CASCADE, related_name="items", db_index=False)
    row = models.PositiveIntegerField()
    creditor_account_number = models.CharField(max_length=500)
    # Never looked up from the account's side: constraints without indexes.
    creditor_account = models.ForeignKey(
        Account, null=True, blank=True, on_delete=models.PROTECT, related_name="+", db_index=False
    )
    # Set for pain.001 rows (each PmtInf names its debtor); empty for a CSV row,
    # which pays from the batch's debtor account.
    debtor_account = models.ForeignKey(
        Account, null=True, blank=True, on_delete=models.PROTECT, related_name="+", db_index=False
    )
    creditor_name = models.CharField(max_length=500, blank=True)
    amount_text = models.CharField(max_length=500, blank=True)
    amount = models.BigIntegerField(null=True, blank=True)
    currency = models.CharField(max_length=500, blank=True)
    reference = models.CharField(max_length=500, blank=True)
    end_to_end_id = models.CharField(max_length=500, blank=True)
    execution_date = models.DateField(null=True, blank=True)
    execution_datetime = models.DateTimeField(
        null=True, blank=True, help_text="pain.001 ReqdExctnDt/DtTm"
    )
    payment_information_id = models.CharField(max_length=500, blank=True)
    block = models.PositiveIntegerField(
        null=True, blank=True, help_text="1-based index of the row's PmtInf in the file"
    )
    instruction_id = models.CharField(max_length=500, blank=True, help_text="PmtId/InstrId")
    uetr = models.CharField(max_length=500, blank=True, help_text="PmtId/UETR")
    transfer_currency = models.CharField(
        max_length=500, blank=True, help_text="Amt/EqvtAmt/CcyOfTrf; empty for InstdAmt"
    )
    creditor_reference = models.CharField(
        max_length=500, blank=True, help_text="RmtInf/Strd/CdtrRefInf/Ref"
    )
    creditor_reference_type = models.CharField(
        max_length=500, blank=True, help_text="CdtrRefInf/Tp/CdOrPrtry: QRR, SCOR, ..."
    )
    creditor_agent_bic = models.CharField(max_length=500, blank=True)
    ultimate_debtor = models.CharField(max_length=500, blank=True)
    ultimate_creditor = models.CharField(max_length=500, blank=True)
    # Postal addresses as read from the file, structured or hybrid (iso20022 PostalAddress24
    # keys: street, building_number, postcode, town, country, address_lines...); null: none.
    debtor_address = models.JSONField(null=True, blank=True)
    creditor_address = models.JSONField(null=True, blank=True)
    ultimate_debtor_address = models.JSONField(null=True, blank=True)
    ultimate_creditor_address = models.JSONField(null=True, blank=True)
    # Verification of Payee at validation: {"result": MTCH|CMTC|NMTC|NOAP, "matched_name"}.
    verification = models.JSONField(null=True, blank=True)
    # A row paid through the network: {"peer_bic", "uetr", "status", "reason_code"}.
    clearing = models.JSONField(null=True, blank=True)
    # No index of its own: rows are always read within one batch (the (batch, row) index).
    # An index on a column of four values, over every batch's rows, only tempted the planner
    # into a bitmap of all the table's valid rows where the first page of one batch was asked.
    status = models.CharField(max_length=10, choices=Status.choices)
    error_code = models.CharField(max_length=4, blank=True)
    error_message = models.CharField(max_length=500, blank=True)
    # What the approver should look at twice (FLAG_* bits), set at validation.
    flags = models.PositiveSmallIntegerField(default=0, db_default=0)
    duplicate_of_payment = models.ForeignKey(
        Payment, null=True, blank=True, on_delete=models.SET_NULL, related_name="+", db_index=False
    )
    duplicate_of_batch = models.ForeignKey(
        Batch, null=True, blank=True, on_delete=models.SET_NULL, related_name="+", db_index=False
    )
    # One row per payment (partial unique below): rows not yet paid skip that index.
    payment = models.ForeignKey(
        Payment,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="batch_items",
        db_index=False,
    )

    FLAG_NEW_PAYEE = 1  # this debtor never paid this creditor before
    FLAG_LARGEST = 2  # among the batch's largest rows
    FLAG_DUPLICATE = 4  # same creditor, amount and reference, or end-to-end id, as before
    FLAG_SANCTIONS = 8  # the payee's name may be on a sanctions list (an alert is open)
    FLAG_VOP_MISMATCH = 16  # Verification of Payee: close match or no match (CMTC, NMTC)

    class Meta:
        ordering = ["batch", "row"]
        # The rows that will not be paid (refused or failed), in file order: the batch page
        # lists them without reading the batch's other 100,000 rows.
        indexes = [
            models.Index(
                fields=["batch", "row"],
                name="batch_item_not_paid",
                condition=Q(status__in=["invalid", "failed"]),
            )
        ]
        constraints = [
            models.UniqueConstraint(fields=["batch", "row"], name="batch_item_row_once"),
            models.UniqueConstraint(
                fields=["payment"],
                name="batch_item_payment_once",
                condition=Q(payment__isnull=False),
            ),
        ]

    def __str__(self) -> str:
        return f"row {self.row}"

    @property
    def is_new_payee(self) -> bool:
        return bool(self.flags & self.FLAG_NEW_PAYEE)

    @property
    def is_largest(self) -> bool:
        return bool(self.flags & self.FLAG_LARGEST)

    @property
    def is_possible_duplicate(self) -> bool:
        return bool(self.flags & self.FLAG_DUPLICATE)

    @property
    def is_sanctions_hit(self) -> bool:
        return bool(self.flags & self.FLAG_SANCTIONS)

    @property
    def creditor_address_line(self) -> str:
        """The creditor's address on one line, for the approver: "Hauptstr. 1, 10115 Berlin, DE"."""
        return addresses.one_line(self.creditor_address)

    @property
    def is_vop_mismatch(self) -> bool:
        return bool(self.flags & self.FLAG_VOP_MISMATCH)

    @property
    def amount_shown(self) -> str:
        """The amount in major units, or as the file wrote it when it did not parse."""
        if self.amount is not None:
            return money.to_major(self.amount, self.currency)
        return self.amount_text


class Approval(models.Model):
    class Decision(models.TextChoices):
        APPROVE = "approve", "Approve"
        REJECT = "reject", "Reject"

    id = models.BigAutoField(primary_key=True)
    batch = models.ForeignKey(Batch, on_delete=models.PROTECT, related_name="approvals")
    approver = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="batch_approvals"
    )
    decision = models.CharField(max_length=10, choices=Decision.choices)
    reason = models.CharField(max_length=500, blank=True)
    validated_sha256 = models.CharField(max_length=64, help_text="what was approved")
    # The decision is signed with a fresh authenticator code: its TOTP time step (a code is
    # accepted once: django-otp refuses any step not after the device's last one).
    otp_time_step = models.BigIntegerField(null=True, blank=True)
    ip = models.GenericIPAddressField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["batch", "approver"], name="approval_once_per_approver"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.decision} by {self.approver_id}"


class BatchHold(models.Model):
    """The funds of an approved batch, held on one debtor account until the batch ends.

    Placed when the last approval lands; execution pays the account's rows from it and
    the rest is released when the batch ends (or is rejected or cancelled).
    """

    id = models.BigAutoField(primary_key=True)
    batch = models.ForeignKey(Batch, on_delete=models.PROTECT, related_name="holds")
    hold = models.OneToOneField(Hold, on_delete=models.PROTECT, related_name="batch_hold")

    def __str__(self) -> str:
        return f"hold {self.hold_id} of batch {self.batch_id}"
