"""Dashboard forms of the payments app: the payment search (GET), shared by its CSV export."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

from django import forms

from accounts.ledger import money
from accounts.ledger.errors import InvalidAmount
from accounts.ledger.forms import clean_currency_code
from accounts.models import Account
from payments.models import Payment

# Far above any payment (money.MAX_MINOR), yet in every currency's minor units within a bigint.
MAX_BOUND = Decimal(10) ** 14


class DateInput(forms.DateInput):
    input_type = "date"  # a date picker in the browser; the value stays YYYY-MM-DD


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
    reference = forms.CharField(required=False, max_length=140)
    id = forms.UUIDField(
        label="Payment id",
        required=False,
        error_messages={"invalid": "A payment id is a UUID such as 0b6f5e5c-…-9d1a2c3e4f50."},
        widget=forms.TextInput(attrs={"size": 36, "spellcheck": "false"}),
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
            "payment_id": data.get("id"),
            "account": data.get("account"),
            "status": data.get("status", ""),
            "currency": data.get("currency", ""),
            "amount_min": data.get("amount_min"),
            "amount_max": data.get("amount_max"),
            "created_from": data.get("created_from"),
            "created_to": data.get("created_to"),
            "batch_id": data.get("batch"),
        }
