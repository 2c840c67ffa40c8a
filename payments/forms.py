"""Dashboard forms of the payments app: the payment search (GET), shared by its CSV export."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

from django import forms

from accounts.ledger import money
from accounts.ledger.errors import InvalidAmount
from accounts.ledger.forms import clean_currency_code
from accounts.models import Account, Merchant
from payments.models import BackOfficeAction, Payment
from payments.selectors import uuid_prefix_range

# Far above any payment (money.MAX_MINOR), yet in every currency's minor units within a bigint.
MAX_BOUND = Decimal(10) ** 14


class DateInput(forms.DateInput):
    input_type = "date"  # a date picker in the browser; the value stays YYYY-MM-DD

    def __init__(self, attrs=None):
        # Without a date picker the field still reads and writes ISO dates.
        super().__init__(attrs={"placeholder": "YYYY-MM-DD", **(attrs or {})}, format="%Y-%m-%d")


def parse_amount(text: str) -> Decimal | None:
    """A major-unit bound such as "12.50": digits and one point, nothing else."""
    text = (text or "").strip()
    if not text:
        return None
    if any(ch not in "0123456789." for ch in text) or text.count(".") > 1 or text == ".":
        raise forms.ValidationError(f"“{text}” is not an amount: write it like 12.50.")
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise forms.ValidationError(f"“{text}” is not an amount: write it like 12.50.") from None
    if value >= MAX_BOUND:
        raise forms.ValidationError("That amount is too large.")
    return value


class PaymentSearchForm(forms.Form):
    reference = forms.CharField(
        required=False,
        max_length=140,
        help_text="3+ characters found anywhere in it, any case.",
    )
    end_to_end_id = forms.CharField(
        label="End-to-end id",
        required=False,
        max_length=35,
        help_text="3+ characters found anywhere in it, any case.",
        widget=forms.TextInput(attrs={"spellcheck": "false"}),
    )
    id = forms.CharField(
        label="Payment id",
        required=False,
        max_length=40,
        help_text="The whole id or its first 8+ characters.",
        widget=forms.TextInput(attrs={"size": 36, "spellcheck": "false"}),
    )
    merchant = forms.ModelChoiceField(
        required=False,
        queryset=Merchant.objects.order_by("name"),
        empty_label="Any",
    )
    account = forms.CharField(
        label="Account number",
        required=False,
        max_length=34,
        help_text="Debtor or creditor.",
    )
    status = forms.ChoiceField(required=False, choices=[("", "Any"), *Payment.Status.choices])
    currency = forms.CharField(
        required=False, max_length=3, widget=forms.TextInput(attrs={"size": 4})
    )
    amount_min = forms.CharField(
        label="Amount from",
        required=False,
        max_length=24,
        widget=forms.TextInput(attrs={"size": 10}),
    )
    amount_max = forms.CharField(
        label="Amount to", required=False, max_length=24, widget=forms.TextInput(attrs={"size": 10})
    )
    created_from = forms.DateField(label="Created from", required=False, widget=DateInput)
    created_to = forms.DateField(label="Created to", required=False, widget=DateInput)
    batch = forms.UUIDField(
        label="Batch id",
        required=False,
        error_messages={"invalid": "A batch id is a UUID."},
        widget=forms.TextInput(attrs={"size": 36, "spellcheck": "false"}),
    )

    def clean_id(self) -> str:
        text = self.cleaned_data.get("id", "").strip()
        if text and uuid_prefix_range(text) is None:
            raise forms.ValidationError(
                "A payment id is a UUID such as 0b6f5e5c-…-9d1a2c3e4f50, or its first "
                "8 or more characters."
            )
        return text

    def clean_currency(self) -> str:
        return clean_currency_code(self.cleaned_data.get("currency", ""))

    def clean_amount_min(self) -> Decimal | None:
        return parse_amount(self.cleaned_data.get("amount_min", ""))

    def clean_amount_max(self) -> Decimal | None:
        return parse_amount(self.cleaned_data.get("amount_max", ""))

    def clean_account(self) -> Account | None:
        number = self.cleaned_data.get("account", "").strip()
        if not number:
            return None
        account = Account.objects.filter(number=number).first()
        if account is None:
            raise forms.ValidationError(f"No account has the number “{number}”.")
        return account

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        assert data is not None  # Form.clean returns cleaned_data
        currency = data.get("currency")
        low, high = data.get("amount_min"), data.get("amount_max")
        for name in ("amount_min", "amount_max"):
            value = data.get(name)
            if currency and value is not None:
                try:
                    money.to_minor(value, currency, allow_zero=True)
                except InvalidAmount as error:
                    self.add_error(name, error.detail)
        if low is not None and high is not None and low > high:
            self.add_error("amount_max", "“Amount to” is below “Amount from”.")
        start, end = data.get("created_from"), data.get("created_to")
        if start and end and start > end:
            self.add_error("created_to", "“Created to” is before “Created from”.")
        return data

    def search_kwargs(self) -> dict[str, Any]:
        """The arguments of `payments.selectors.payments_search` for a valid form."""
        data = self.cleaned_data
        return {
            "reference": data.get("reference", "").strip(),
            "end_to_end_id": data.get("end_to_end_id", "").strip(),
            "payment_id": data.get("id") or None,
            "merchant_id": data["merchant"].pk if data.get("merchant") else None,
            "account": data.get("account"),
            "status": data.get("status", ""),
            "currency": data.get("currency", ""),
            "amount_min": data.get("amount_min"),
            "amount_max": data.get("amount_max"),
            "created_from": data.get("created_from"),
            "created_to": data.get("created_to"),
            "batch_id": data.get("batch"),
        }


REASON_CODED = (BackOfficeAction.Kind.CLEARING_RETURN, BackOfficeAction.Kind.RECALL_REFUSE)


class BackOfficeActionForm(forms.Form):
    """A clerk's action on a payment (or one of its webhook deliveries), with a reason."""

    kind = forms.ChoiceField(choices=BackOfficeAction.Kind.choices, widget=forms.HiddenInput)
    amount = forms.CharField(
        label="Amount",
        required=False,
        max_length=24,
        help_text="Major units (12.50); empty: all that is left. For a refund only.",
        widget=forms.TextInput(attrs={"size": 10, "inputmode": "decimal"}),
    )
    reason = forms.CharField(
        max_length=500,
        error_messages={"required": "Say why: an action needs a reason."},
        help_text="Why: it goes into the audit trail and to the approver.",
        widget=forms.TextInput(attrs={"size": 40}),
    )
    reason_code = forms.CharField(
        label="ISO reason",
        required=False,
        max_length=4,
        help_text="Told the other bank: a return's reason (AC04, MS03, FOCR...) or a "
        "recall's refusal (CUST, LEGL, AC04, NOAS...).",
        widget=forms.TextInput(attrs={"size": 4}),
    )
    delivery = forms.UUIDField(required=False, widget=forms.HiddenInput)
    otp_token = forms.CharField(
        label="Authenticator code",
        max_length=8,
        help_text="A fresh code: every decision that moves money is signed.",
        error_messages={"required": "Enter the code your authenticator app shows now."},
        widget=forms.TextInput(
            attrs={
                "size": 8,
                "class": "code",
                "autocomplete": "one-time-code",
                "inputmode": "numeric",
            }
        ),
    )

    def __init__(self, *args: Any, payment: Payment, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.payment = payment

    def clean_reason(self) -> str:
        reason = self.cleaned_data.get("reason", "").strip()
        if not reason:
            raise forms.ValidationError("Say why: an action needs a reason.")
        return reason

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        assert data is not None
        text = (data.get("amount") or "").replace(",", "").strip()
        data["amount_minor"] = None
        if text and data.get("kind") == BackOfficeAction.Kind.REFUND:
            try:
                data["amount_minor"] = money.to_minor(text, self.payment.currency)
            except InvalidAmount as error:
                self.add_error("amount", error.detail)
        data["reason_code"] = (data.get("reason_code") or "").strip().upper()
        if data.get("kind") in REASON_CODED and not data["reason_code"]:
            self.add_error("reason_code", "Give the ISO reason told the other bank.")
        if data.get("kind") == BackOfficeAction.Kind.WEBHOOK_RETRY and not data.get("delivery"):
            self.add_error(None, "Which delivery should be sent again?")
        return data


class DecisionForm(forms.Form):
    decision = forms.ChoiceField(choices=[("approve", "Approve"), ("reject", "Reject")])
    reason = forms.CharField(required=False, max_length=500)
    otp_token = forms.CharField(
        label="Authenticator code",
        max_length=8,
        help_text="A fresh code: every decision that moves money is signed.",
        error_messages={"required": "Enter the code your authenticator app shows now."},
        widget=forms.TextInput(
            attrs={
                "size": 8,
                "class": "code",
                "autocomplete": "one-time-code",
                "inputmode": "numeric",
            }
        ),
    )
