"""Dashboard forms of the batches app: the list's filters, the upload, the rejection.

Forms only read and check input; the views hand the cleaned values to the services.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from django import forms
from django.utils import timezone

from accounts.models import Account, Merchant
from batches import parsers
from batches.models import Batch


class DateInput(forms.DateInput):
    input_type = "date"  # a date picker in the browser; the value stays YYYY-MM-DD

    def __init__(self, attrs=None):
        # Without a date picker the field still reads and writes ISO dates.
        super().__init__(attrs={"placeholder": "YYYY-MM-DD", **(attrs or {})}, format="%Y-%m-%d")


class BatchFilterForm(forms.Form):
    status = forms.ChoiceField(required=False, choices=[("", "Any"), *Batch.Status.choices])
    merchant = forms.ModelChoiceField(
        required=False, queryset=Merchant.objects.order_by("name"), empty_label="Any"
    )
    file_name = forms.CharField(
        label="File name",
        required=False,
        max_length=255,
        help_text="Any part of it, any case; or the file's MsgId.",
    )
    uploaded_from = forms.DateField(label="Uploaded from", required=False, widget=DateInput)
    uploaded_to = forms.DateField(label="Uploaded to", required=False, widget=DateInput)

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        assert data is not None  # Form.clean returns cleaned_data
        start, end = data.get("uploaded_from"), data.get("uploaded_to")
        if start and end and start > end:
            self.add_error("uploaded_to", "“Uploaded to” is before “Uploaded from”.")
        return data

    def filters(self) -> dict[str, Any]:
        """The arguments of `batches.selectors.batches_search` for a valid form."""
        data = self.cleaned_data
        return {
            "status": data.get("status", ""),
            "merchant": data.get("merchant"),
            "file_name": data.get("file_name", "").strip(),
            "uploaded_from": data.get("uploaded_from"),
            "uploaded_to": data.get("uploaded_to"),
        }


class DebtorAccountChoice(forms.ModelChoiceField):
    """A merchant's customer account, shown with the merchant's name (the batch's merchant)."""

    def label_from_instance(self, obj: Account) -> str:
        assert obj.merchant is not None  # debtor_accounts() has merchants' accounts only
        name = f" · {obj.name}" if obj.name and obj.name != obj.merchant.name else ""
        return f"{obj.merchant.name} — {obj.number} ({obj.currency}){name}"


def debtor_accounts():
    """Accounts a batch may pay from: a merchant's own customer accounts, not closed."""
    return (
        Account.objects.filter(kind=Account.Kind.CUSTOMER, merchant__isnull=False)
        .exclude(status=Account.Status.CLOSED)
        .select_related("merchant")
        .order_by("merchant__name", "number")
    )


class BatchUploadForm(forms.Form):
    file = forms.FileField(
        label="Payment file",
        help_text="CSV (creditor_account, amount, currency, reference…) or ISO 20022 pain.001.",
        error_messages={
            "required": "Choose the file to upload.",
            "empty": "The file is empty.",
        },
        widget=forms.ClearableFileInput(attrs={"accept": ".csv,.xml,text/csv,application/xml"}),
    )
    debtor_account = DebtorAccountChoice(
        label="Merchant's debtor account",
        queryset=debtor_accounts(),
        required=False,  # a pain.001 names its own; a CSV needs one (clean says so)
        empty_label="From the file (pain.001 only)",
        help_text="The batch belongs to this account's merchant. For a CSV, choose it. A pain.001 "
        "names its debtor account in each payment block: leave this empty and the file's first "
        "one names the merchant; every block must pay from one of that merchant's accounts.",
    )
    execution_date = forms.DateField(
        label="Execution date",
        required=False,
        widget=DateInput,
        help_text="Leave empty to pay as soon as the batch is approved.",
    )

    def __init__(self, *args: Any, today: date | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.today = today or timezone.localdate()
        self.fields["execution_date"].widget.attrs["min"] = self.today.isoformat()

    def clean(self) -> dict[str, Any]:
        """The batch's merchant: the chosen account's, else that of the account a pain.001
        names in its first payment block."""
        data = super().clean()
        assert data is not None
        account, upload = data.get("debtor_account"), data.get("file")
        if account is not None:
            data["merchant"] = account.merchant
        elif upload is not None:
            number = parsers.first_debtor_account(upload)
            found = debtor_accounts().filter(number=number).first() if number else None
            if not number:
                self.add_error(
                    "debtor_account",
                    "Choose the account the batch pays from: a CSV file does not name it "
                    "(only a pain.001 does, in each payment block).",
                )
            elif found is None:
                self.add_error(
                    "debtor_account",
                    f"The file's first payment block pays from {number!r}, which is no "
                    "merchant's open account here: check the file's DbtrAcct, or choose the "
                    "account.",
                )
            else:
                data["merchant"] = found.merchant
        return data

    def clean_execution_date(self) -> date | None:
        value = self.cleaned_data.get("execution_date")
        if value is not None and value < self.today:
            raise forms.ValidationError(
                f"The execution date {value:%Y-%m-%d} is in the past: "
                f"choose today ({self.today:%Y-%m-%d}) or later."
            )
        return value


class BatchRejectForm(forms.Form):
    reason = forms.CharField(
        label="Reason for rejecting",
        max_length=500,
        strip=True,
        error_messages={"required": "Say why the batch is rejected: the maker reads it."},
        widget=forms.Textarea(attrs={"rows": 2, "cols": 50}),
    )
