"""Dashboard forms of the ledger: the account list's filters and the currency field."""

from __future__ import annotations

from typing import Any

from django import forms

from accounts.ledger import currency as iso4217
from accounts.ledger.models import Account, Merchant


def clean_currency_code(value: str) -> str:
    """An optional ISO 4217 code from a filter form, upper-cased; "" when left empty."""
    code = (value or "").strip().upper()
    if code and not iso4217.is_known(code):
        raise forms.ValidationError(f"{code} is not an ISO 4217 currency code (such as EUR).")
    return code


class AccountSearchForm(forms.Form):
    """The filters of the dashboard's account list (GET)."""

    q = forms.CharField(label="Number or name", required=False, max_length=140)
    currency = forms.CharField(
        required=False, max_length=3, widget=forms.TextInput(attrs={"size": 4})
    )
    status = forms.ChoiceField(required=False, choices=[("", "Any"), *Account.Status.choices])
    kind = forms.ChoiceField(required=False, choices=[("", "Any"), *Account.Kind.choices])
    merchant = forms.ModelChoiceField(
        required=False, queryset=Merchant.objects.order_by("name"), empty_label="Any"
    )

    def clean_currency(self) -> str:
        return clean_currency_code(self.cleaned_data.get("currency", ""))

    def search_kwargs(self) -> dict[str, Any]:
        data = self.cleaned_data
        merchant = data.get("merchant")
        return {
            "query": data.get("q", ""),
            "currency": data.get("currency", ""),
            "status": data.get("status", ""),
            "kind": data.get("kind", ""),
            "merchant_id": merchant.pk if merchant else None,
        }


class InstantLimitsForm(forms.Form):
    """New instant limits of an account (major units; empty: no limit), signed."""

    per_payment = forms.CharField(label="Per payment", required=False, max_length=30)
    per_day = forms.CharField(label="Per day", required=False, max_length=30)
    otp_token = forms.CharField(label="Authenticator code", max_length=10)

    def __init__(self, *args: Any, currency: str, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.currency = currency

    def _limit(self, name: str) -> int | None:
        from accounts.ledger import money
        from accounts.ledger.errors import LedgerError

        text = (self.cleaned_data.get(name) or "").strip()
        if not text:
            return None
        try:
            return money.to_minor(text, self.currency)
        except LedgerError as error:
            raise forms.ValidationError(f"{text}: {error.detail}") from None

    def clean_per_payment(self) -> int | None:
        return self._limit("per_payment")

    def clean_per_day(self) -> int | None:
        return self._limit("per_day")


class InstantLimitDecisionForm(forms.Form):
    decision = forms.ChoiceField(choices=[("approve", "Confirm"), ("reject", "Reject")])
    reason = forms.CharField(required=False, max_length=500)
    otp_token = forms.CharField(label="Authenticator code", max_length=10)
