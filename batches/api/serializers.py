"""API shapes of batches and their rows."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from accounts.ledger import money
from batches import selectors
from batches.addressing import ROW_FIELDS as ROW_ADDRESS_FIELDS
from batches.fields import ISO_ROW_FIELDS
from batches.models import Approval, Batch, BatchItem
from payments.api.addresses import AddressField
from payments.api.serializers import AccountNumberField


class ApprovalSerializer(serializers.ModelSerializer):
    """A decision as the merchant sees it: what and when, never who among the bank's staff
    (a user name is half of a login, and an approver's name is the bank's to keep)."""

    class Meta:
        model = Approval
        fields = ["decision", "reason", "validated_sha256", "created_at"]


class ProgressSerializer(serializers.Serializer):
    done = serializers.IntegerField()
    total = serializers.IntegerField()


class BatchSerializer(serializers.ModelSerializer):
    total_amount = serializers.SerializerMethodField()
    progress = serializers.SerializerMethodField()
    approvals = ApprovalSerializer(many=True, read_only=True)
    approvals_required = serializers.SerializerMethodField()
    debtor_account = serializers.CharField(
        source="debtor_account.number", allow_null=True, default=None
    )
    error_code = serializers.SerializerMethodField()
    error_message = serializers.SerializerMethodField()
    # DUPL: the earlier batch of the same merchant whose file or payments this repeats.
    duplicate_of = serializers.UUIDField(source="duplicate_of_id", read_only=True, allow_null=True)

    class Meta:
        model = Batch
        fields = [
            "id",
            "status",
            "file_name",
            "format",
            "message_id",
            "debtor_account",
            "item_count",
            "valid_count",
            "invalid_count",
            "total_amount",
            "currency",
            "execution_date",
            "progress",
            "succeeded_count",
            "failed_count",
            "approvals",
            "approvals_required",
            "error_code",
            "error_message",
            "duplicate_of",
            "vop_opted_out",
            "created_at",
            "updated_at",
        ]

    @extend_schema_field({"type": "string", "nullable": True, "example": "1234.50"})
    def get_total_amount(self, obj: Batch) -> str | None:
        return money.to_major(obj.total_amount, obj.currency) if obj.currency else None

    @extend_schema_field(ProgressSerializer)
    def get_progress(self, obj: Batch) -> dict:
        return {"done": obj.processed_count, "total": obj.valid_count}

    def get_approvals_required(self, obj: Batch) -> int:
        return selectors.approvals_required(obj)

    def get_error_code(self, obj: Batch) -> str | None:
        return obj.error_code or None

    def get_error_message(self, obj: Batch) -> str | None:
        return obj.error_message or None


class BatchUploadSerializer(serializers.Serializer):
    file = serializers.FileField(allow_empty_file=False, help_text="CSV or ISO 20022 pain.001")
    debtor_account = AccountNumberField(
        required=False,
        allow_blank=True,
        default="",
        help_text="your account number; required for CSV (pain.001 names it in DbtrAcct)",
    )
    execution_date = serializers.DateField(required=False, allow_null=True, default=None)


class BatchItemSerializer(serializers.ModelSerializer):
    creditor_account = serializers.CharField(source="creditor_account_number")
    debtor_account = serializers.CharField(
        source="debtor_account.number",
        allow_null=True,
        default=None,
        help_text="the PmtInf's DbtrAcct; null for a CSV row, which pays from the batch's",
    )
    amount = serializers.SerializerMethodField()
    error_code = serializers.SerializerMethodField()
    error_message = serializers.SerializerMethodField()
    payment = serializers.UUIDField(source="payment_id", allow_null=True)
    debtor_address = AddressField(help_text="PmtInf/Dbtr/PstlAdr")
    creditor_address = AddressField(help_text="Cdtr/PstlAdr, or the CSV's creditor_* columns")
    ultimate_debtor_address = AddressField(help_text="UltmtDbtr/PstlAdr")
    ultimate_creditor_address = AddressField(help_text="UltmtCdtr/PstlAdr")

    class Meta:
        model = BatchItem
        fields = [
            "row",
            "creditor_account",
            "creditor_name",
            "amount",
            "currency",
            "reference",
            "end_to_end_id",
            "payment_information_id",
            *ISO_ROW_FIELDS,
            "debtor_account",
            *ROW_ADDRESS_FIELDS,
            "execution_date",
            "execution_datetime",
            "status",
            "error_code",
            "error_message",
            "payment",
            "verification",
        ]

    def get_amount(self, obj: BatchItem) -> str:
        return obj.amount_shown

    def get_error_code(self, obj: BatchItem) -> str | None:
        return obj.error_code or None

    def get_error_message(self, obj: BatchItem) -> str | None:
        return obj.error_message or None
