"""API shapes: amounts are decimal strings in major units, accounts are numbers."""

from __future__ import annotations

import re
from typing import Any

from drf_spectacular.utils import OpenApiExample, extend_schema_field, extend_schema_serializer
from rest_framework import serializers

from accounts.ledger import currency as iso4217
from accounts.ledger import money
from accounts.ledger.errors import LedgerError
from accounts.models import Account, LedgerEntry
from iso20022 import addresses
from payments import external, selectors
from payments.api.addresses import AddressField
from payments.api.errors import APIError
from payments.api.instant_limits import InstantLimitFields
from payments.models import Payment, Refund


@extend_schema_field({"type": "string", "pattern": r"^\d+(\.\d+)?$", "example": "12.50"})
class AmountField(serializers.Field):
    """A decimal string such as "12.50"; JSON numbers are refused (no floats, ever)."""

    default_error_messages = {"not_string": 'amount must be a decimal string such as "12.50"'}

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("not_string")
        return data.strip()

    def to_representation(self, value):
        return value


def major(minor: int, currency: str) -> str:
    return money.to_major(minor, currency)


class AccountSerializer(InstantLimitFields, serializers.ModelSerializer):
    balance = serializers.SerializerMethodField()
    held = serializers.SerializerMethodField()
    available = serializers.SerializerMethodField()

    class Meta:
        model = Account
        fields = [
            "id",
            "number",
            "name",
            "currency",
            "balance",
            "held",
            "available",
            "status",
            "created_at",
            *InstantLimitFields.Meta_fields,
        ]

    def get_balance(self, obj: Account) -> str:
        return major(obj.balance, obj.currency)

    def get_held(self, obj: Account) -> str:
        return major(obj.held, obj.currency)

    def get_available(self, obj: Account) -> str:
        return major(obj.available, obj.currency)


class EntrySerializer(serializers.ModelSerializer):
    transaction = serializers.IntegerField(source="transaction_id")
    kind = serializers.CharField(source="transaction.kind")
    reference = serializers.CharField(source="transaction.reference")
    description = serializers.CharField(source="transaction.description")
    amount = serializers.SerializerMethodField(help_text="signed: negative is a debit")
    balance_after = serializers.SerializerMethodField()

    class Meta:
        model = LedgerEntry
        fields = [
            "id",
            "transaction",
            "kind",
            "amount",
            "currency",
            "balance_after",
            "reference",
            "description",
            "created_at",
        ]

    def get_amount(self, obj: LedgerEntry) -> str:
        return major(obj.amount, obj.currency)

    def get_balance_after(self, obj: LedgerEntry) -> str:
        return major(obj.balance_after, obj.currency)


class PaymentSerializer(serializers.ModelSerializer):
    amount = serializers.SerializerMethodField()
    captured_amount = serializers.SerializerMethodField()
    refunded_amount = serializers.SerializerMethodField()
    debtor_account = serializers.SerializerMethodField(
        help_text="an account number here, or the other bank's IBAN of an incoming transfer"
    )
    creditor_account = serializers.SerializerMethodField(
        help_text="an account number here, or the other bank's IBAN of an outgoing transfer"
    )
    failure_code = serializers.SerializerMethodField()
    failure_message = serializers.SerializerMethodField()
    authorization_code = serializers.SerializerMethodField()
    batch = serializers.UUIDField(source="batch_id", allow_null=True)
    debtor_address = AddressField()
    creditor_address = AddressField()

    class Meta:
        model = Payment
        fields = [
            "id",
            "status",
            "amount",
            "currency",
            "debtor_account",
            "creditor_account",
            "reference",
            "end_to_end_id",
            "authorization_code",
            "expires_at",
            "captured_amount",
            "refunded_amount",
            "failure_code",
            "failure_message",
            "batch",
            "direction",
            "debtor_name",
            "debtor_agent",
            "debtor_address",
            "creditor_name",
            "creditor_agent",
            "creditor_address",
            "clearing",
            "recall",
            "verification",
            "created_at",
            "updated_at",
        ]

    def get_amount(self, obj: Payment) -> str:
        return major(obj.amount, obj.currency)

    def get_debtor_account(self, obj: Payment) -> str:
        return _debtor_number(obj)

    def get_creditor_account(self, obj: Payment) -> str:
        return _creditor_number(obj)

    def get_captured_amount(self, obj: Payment) -> str:
        return major(obj.captured_amount, obj.currency)

    def get_refunded_amount(self, obj: Payment) -> str:
        return major(obj.refunded_amount, obj.currency)

    def get_failure_code(self, obj: Payment) -> str | None:
        return obj.failure_code or None

    def get_failure_message(self, obj: Payment) -> str | None:
        return obj.failure_message or None

    def get_authorization_code(self, obj: Payment) -> str | None:
        return obj.authorization_code or None

    def to_representation(self, instance: Payment) -> dict:
        """The fields above, written out: every answer about a payment is built here, and
        DRF's generic walk over the fields costs a tenth of a payment request. The test
        `test_payment_representation_is_the_declared_fields` holds the two together."""
        timestamp = _TIMESTAMP.to_representation
        return {
            "id": str(instance.id),
            "status": instance.status,
            "amount": major(instance.amount, instance.currency),
            "currency": instance.currency,
            "debtor_account": _debtor_number(instance),
            "creditor_account": _creditor_number(instance),
            "reference": instance.reference,
            "end_to_end_id": instance.end_to_end_id,
            "authorization_code": instance.authorization_code or None,
            "expires_at": timestamp(instance.expires_at) if instance.expires_at else None,
            "captured_amount": major(instance.captured_amount, instance.currency),
            "refunded_amount": major(instance.refunded_amount, instance.currency),
            "failure_code": instance.failure_code or None,
            "failure_message": instance.failure_message or None,
            "batch": str(instance.batch_id) if instance.batch_id else None,
            "direction": instance.direction,
            "debtor_name": instance.debtor_name,
            "debtor_agent": instance.debtor_agent,
            "debtor_address": instance.debtor_address,
            "creditor_name": instance.creditor_name,
            "creditor_agent": instance.creditor_agent,
            "creditor_address": instance.creditor_address,
            "clearing": instance.clearing,
            "recall": instance.recall,
            "verification": instance.verification,
            "created_at": timestamp(instance.created_at),
            "updated_at": timestamp(instance.updated_at),
        }


_TIMESTAMP = serializers.DateTimeField()  # DRF's own rendering of a timestamp


def _debtor_number(payment: Payment) -> str:
    """The other bank's IBAN for a transfer received, else the account here."""
    if payment.direction == Payment.Direction.INCOMING and payment.debtor_iban:
        return payment.debtor_iban
    return payment.debtor_account.number


def _creditor_number(payment: Payment) -> str:
    """The other bank's IBAN for a transfer sent (not the peer's clearing account)."""
    if payment.direction == Payment.Direction.OUTGOING and payment.creditor_iban:
        return payment.creditor_iban
    return payment.creditor_account.number


class AddressSerializer(serializers.Serializer):
    """A structured (or hybrid) postal address, as ISO 20022's PostalAddress24 has it."""

    street = serializers.CharField(max_length=70, required=False, allow_blank=True)
    building_number = serializers.CharField(max_length=16, required=False, allow_blank=True)
    postcode = serializers.CharField(max_length=16, required=False, allow_blank=True)
    town = serializers.CharField(max_length=35, required=False, allow_blank=True)
    country = serializers.RegexField(r"^[A-Z]{2}$", required=False, allow_blank=True)
    address_lines = serializers.ListField(
        child=serializers.CharField(max_length=70), max_length=2, required=False
    )


class GivenVerificationSerializer(serializers.Serializer):
    """The answer of a Verification of Payee the merchant asked for before paying."""

    result = serializers.ChoiceField(choices=["MTCH", "CMTC", "NMTC", "NOAP"])
    matched_name = serializers.CharField(
        max_length=140, required=False, allow_null=True, allow_blank=True
    )


# Examples that work as they are in Swagger UI's "Try it out" against `make run`'s demo
# (README): the demo merchant's EUR account pays a demo customer. Without them Swagger
# sends "string" and "str", a certain 400.
DEMO_PAYMENT = {
    "debtor_account": "DEMOEUR0001",
    "creditor_account": "DEMOEUR1001",
    "amount": "12.50",
    "currency": "EUR",
    "reference": "order 1001",
    "end_to_end_id": "ORDER-1001",
    "capture": True,
}


@extend_schema_field({"type": "string", "maxLength": 34, "example": DEMO_PAYMENT["debtor_account"]})
class AccountNumberField(serializers.CharField):
    """An account number, as the API reads it (max 34 characters: an IBAN's length)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(max_length=34, **kwargs)


@extend_schema_field(
    {"type": "string", "maxLength": 34, "example": DEMO_PAYMENT["creditor_account"]}
)
class CreditorAccountField(AccountNumberField):
    """The account paid (its example differs from the debtor's: a payment to oneself is refused)."""


@extend_schema_field(
    {"type": "string", "minLength": 3, "maxLength": 3, "pattern": "^[A-Z]{3}$", "example": "EUR"}
)
class CurrencyField(serializers.CharField):
    """An ISO 4217 code such as EUR (checked against the list by the serializer)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(min_length=3, max_length=3, **kwargs)


@extend_schema_serializer(
    examples=[
        OpenApiExample("Pay a demo customer 12.50 EUR", value=DEMO_PAYMENT, request_only=True)
    ]
)
class PaymentCreateSerializer(serializers.Serializer):
    debtor_account = AccountNumberField(help_text="one of your account numbers")
    creditor_account = CreditorAccountField(help_text="any account number")
    amount = AmountField()
    currency = CurrencyField()
    reference = serializers.CharField(max_length=140, required=False, allow_blank=True, default="")
    end_to_end_id = serializers.CharField(
        max_length=35, required=False, allow_blank=True, default=""
    )
    capture = serializers.BooleanField(required=False, default=True)
    # A creditor at another bank (CONTRACT.md, "The merchant's side").
    creditor_name = serializers.CharField(max_length=140, required=False, allow_blank=True)
    creditor_address = AddressSerializer(required=False)
    creditor_agent = serializers.RegexField(
        r"^[A-Z0-9]{4}[A-Z]{2}[A-Z0-9]{2}([A-Z0-9]{3})?$", required=False, allow_blank=True
    )
    # Verification of Payee done before (POST /payee-verifications/): not asked again.
    verification = GivenVerificationSerializer(required=False)

    def validate_currency(self, value: str) -> str:
        if not iso4217.is_known(value):
            raise serializers.ValidationError(f"{value!r} is not an ISO 4217 currency code")
        return value

    def validate(self, attrs):
        errors: dict[str, list[str]] = {}
        try:
            attrs["amount_minor"] = money.to_minor(attrs["amount"], attrs["currency"])
        except LedgerError as error:
            errors["amount"] = [error.detail]
        found = selectors.accounts_by_number(
            numbers=[attrs["debtor_account"], attrs["creditor_account"]]
        )
        # The hub's own (system) accounts are neither paid from nor into by a merchant: they
        # answer as unknown numbers, so the API does not even tell that they exist.
        debtor = found.get(attrs["debtor_account"])
        attrs["debtor"] = (
            debtor
            if debtor
            and debtor.merchant_id == self.context["merchant"].pk
            and debtor.kind == Account.Kind.CUSTOMER
            else None
        )
        creditor = found.get(attrs["creditor_account"])
        attrs["creditor"] = (
            creditor if creditor and creditor.kind == Account.Kind.CUSTOMER else None
        )
        attrs["creditor_bank"] = None
        if attrs["creditor"] is None and creditor is None:
            network = external.network()
            attrs["creditor_bank"] = network.serves(attrs["creditor_account"]) if network else None
        if attrs["debtor"] is None:
            errors["debtor_account"] = [f"you have no account {attrs['debtor_account']!r}"]
        if attrs["creditor_bank"] is not None:
            errors.update(_interbank_errors(attrs))
        elif attrs["creditor"] is None:
            if creditor is None and IBAN.fullmatch(attrs["creditor_account"]) and not errors:
                # Refused before any money moves, with the ISO reason a peer would give.
                raise APIError(
                    status_code=400,
                    code="AC01",
                    detail=f"no bank on the network serves {attrs['creditor_account']} (AC01)",
                    errors={"creditor_account": ["no bank on the network serves this IBAN"]},
                )
            errors["creditor_account"] = [f"no account has number {attrs['creditor_account']!r}"]
        elif attrs["debtor"] is not None and attrs["debtor"].pk == attrs["creditor"].pk:
            errors["creditor_account"] = [
                "the creditor account must differ from the debtor account"
            ]
        if errors:
            raise serializers.ValidationError(errors)
        problem = addresses.network_problem(attrs.get("creditor_address"))
        if attrs["creditor_bank"] is not None and problem:
            raise APIError(
                status_code=400,
                code="BE04",
                detail=f"a transfer to another bank needs the creditor's town and country: {problem} (BE04)",
                errors={"creditor_address": [problem]},
            )
        return attrs


IBAN = re.compile(r"[A-Z]{2}[0-9]{2}[A-Z0-9]{11,30}")


def _interbank_errors(attrs: dict) -> dict[str, list[str]]:
    """What a transfer to another bank needs besides an on-us payment's fields."""
    errors: dict[str, list[str]] = {}
    if not attrs.get("capture", True):
        errors["capture"] = ["a transfer to another bank is captured at once"]
    if not (attrs.get("creditor_name") or "").strip():
        errors["creditor_name"] = ["a transfer to another bank names its creditor"]
    agent = attrs.get("creditor_agent")
    if agent and agent != attrs["creditor_bank"]:
        errors["creditor_agent"] = [
            f"{attrs['creditor_account']} is served by {attrs['creditor_bank']}"
        ]
    return errors


class OptionalAmountSerializer(serializers.Serializer):
    amount = AmountField(required=False, help_text="default: the whole amount")

    def minor(self, currency: str) -> int | None:
        if "amount" not in self.validated_data:
            return None
        try:
            return money.to_minor(self.validated_data["amount"], currency)
        except LedgerError as error:
            raise serializers.ValidationError({"amount": [error.detail]}) from None


class CaptureSerializer(OptionalAmountSerializer):
    pass


class RecallSerializer(serializers.Serializer):
    reason = serializers.ChoiceField(
        choices=["DUPL", "TECH", "FRAD", "CUST"],
        help_text="DUPL duplicate, TECH technical problem, FRAD fraud, CUST asked by the customer",
    )


class RefundCreateSerializer(OptionalAmountSerializer):
    reason = serializers.CharField(max_length=255, required=False, allow_blank=True, default="")


class RefundSerializer(serializers.ModelSerializer):
    amount = serializers.SerializerMethodField()
    payment = serializers.UUIDField(source="payment_id")

    class Meta:
        model = Refund
        fields = ["id", "payment", "amount", "currency", "reason", "created_at"]

    def get_amount(self, obj: Refund) -> str:
        return major(obj.amount, obj.currency)


class WebhookAttemptSerializer(serializers.Serializer):
    at = serializers.DateTimeField()
    status_code = serializers.IntegerField(allow_null=True)
    error = serializers.CharField()
    duration_ms = serializers.IntegerField()


class WebhookDeliverySerializer(serializers.Serializer):
    id = serializers.CharField(source="message_id")
    event_type = serializers.CharField()
    status = serializers.CharField()
    attempt_count = serializers.IntegerField()
    next_attempt_at = serializers.DateTimeField(allow_null=True)
    delivered_at = serializers.DateTimeField(allow_null=True)
    created_at = serializers.DateTimeField()
    payload = serializers.JSONField()
    attempts = WebhookAttemptSerializer(many=True)


class WebhookSecretSerializer(serializers.Serializer):
    webhook_secret = serializers.CharField(help_text="the new secret; the old one stops at once")
