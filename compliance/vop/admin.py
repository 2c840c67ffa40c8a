"""The back office's record of Verification of Payee: every request answered for a peer and
every one this hub made, read-only, found by IBAN."""

from __future__ import annotations

from django.contrib import admin
from django.db.models import Q

from common.admin import IndexedSearchMixin, ReadOnlyAdmin
from compliance.vop.models import PayeeVerification


@admin.register(PayeeVerification)
class PayeeVerificationAdmin(IndexedSearchMixin, ReadOnlyAdmin):
    list_display = ("created_at", "direction", "peer", "iban", "name", "result", "purpose")
    list_filter = ("direction", "result", "purpose")
    list_select_related = ("peer",)
    search_help_text = "An IBAN (exact, without spaces)."
    search_fields = ("iban",)  # shows the box; search_condition answers
    fields = (
        "created_at",
        "direction",
        "peer",
        "request_id",
        "iban",
        "name",
        "result",
        "matched_name",
        "error",
        "merchant",
        "purpose",
    )
    readonly_fields = fields

    def search_condition(self, term: str) -> Q | None:
        return Q(iban=term.replace(" ", "").upper())
