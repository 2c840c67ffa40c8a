"""The second step of the login: the code of the user's authenticator.

The code check reuses django-otp's form mixin, so its throttling (an
exponential delay after each wrong code) and its messages apply unchanged.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django_otp.forms import OTPAuthenticationFormMixin
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts.identity.models import User
from accounts.identity.otp import SPENT_MESSAGE, code_was_spent


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

    def _verify_token(self, user: User, token: str, device: TOTPDevice | None = None):
        try:
            return super()._verify_token(user, token, device)
        except forms.ValidationError as error:
            # A right code typed twice within its 30 s is not a wrong one: say so.
            if error.code == "invalid_token" and device is not None:
                if code_was_spent(device, token):
                    raise forms.ValidationError(SPENT_MESSAGE, code="spent_token") from None
            raise

    @property
    def verified_device(self) -> TOTPDevice | None:
        return getattr(self.user, "otp_device", None)
