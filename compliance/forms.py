"""The back office's forms of sanctions screening: a list upload, an alert decision."""

from __future__ import annotations

from typing import Any

from django import forms

from compliance.models import AlertProposal


class MultipleFileInput(forms.ClearableFileInput):
    allow_multiple_selected = True


class MultipleFileField(forms.FileField):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("widget", MultipleFileInput())
        super().__init__(*args, **kwargs)

    def clean(self, data: Any, initial: Any = None) -> Any:
        if isinstance(data, list | tuple):
            return [super(MultipleFileField, self).clean(item, initial) for item in data]
        return [super().clean(data, initial)]


class ImportForm(forms.Form):
    format = forms.ChoiceField(
        choices=[
            ("eu", "EU financial sanctions XML"),
            ("un", "UN Security Council XML"),
            ("ofac", "OFAC sdn.csv + alt.csv + add.csv"),
        ]
    )
    files = MultipleFileField(  # type: ignore[assignment]
        help_text="One XML file; for OFAC sdn.csv, alt.csv and add.csv (gzip accepted)."
    )


class DecideForm(forms.Form):
    decision = forms.ChoiceField(choices=AlertProposal.Decision.choices)
    reason = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3}),
        max_length=2000,
        help_text="Why: it goes in the audit trail. A false positive keeps this name whitelisted "
        "for this subject until the list entry changes.",
    )
    otp_token = forms.CharField(
        label="Authenticator code",
        max_length=10,
        help_text="A fresh code of your authenticator app: the decision is signed with it.",
        widget=forms.TextInput(attrs={"autocomplete": "one-time-code", "inputmode": "numeric"}),
    )
