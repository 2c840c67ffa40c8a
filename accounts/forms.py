"""Dashboard forms of the accounts app: the second step of the login, the account filters.

The code check reuses django-otp's form mixin, so its throttling (an
exponential delay after each wrong code) and its messages apply unchanged.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django_otp.forms import OTPAuthenticationFormMixin
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts import currency as iso4217
from accounts.models import Account, Merchant, User


class OTPTokenForm(OTPAuthenticationFormMixin, forms.Form):
    """One field, `otp_token`, checked against one given TOTP device of the user."""

    otp_error_messages = {
        **OTPAuthenticationFormMixin.otp_error_messages,
        "token_required": "Enter the code that your authenticator app shows.",
        "invalid_token": "That code is not right. Check the clock of your phone and try again.",
    }

    otp_token = forms.CharField(
        label="Authenticator code",
        required=False,  # an empty field is reported by clean_otp, once
        max_length=8,
        widget=forms.TextInput(
            attrs={
                "autocomplete": "one-time-code",
                "inputmode": "numeric",
                "autofocus": True,
                "required": True,  # for the browser; the server reports an empty field itself
                "class": "code",
                "size": 8,
            }
        ),
    )

    def __init__(self, *args: Any, user: User, device: TOTPDevice, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.user = user
        self.device = device

    def clean(self) -> dict[str, Any] | None:
        cleaned_data = super().clean()
        self.clean_otp(self.user)
        return cleaned_data

    def _chosen_device(self, user: User) -> TOTPDevice | None:
        # Locked, so that two requests racing with guesses both count as failures.
        return (
            TOTPDevice.objects.select_for_update()
            .filter(pk=self.device.pk, user_id=user.pk)
            .first()
        )

    @property
    def verified_device(self) -> TOTPDevice | None:
        return getattr(self.user, "otp_device", None)


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
