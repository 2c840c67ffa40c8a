"""GET /api/v1/accounts/{id}/statement/: a merchant's own account, as camt.053, CSV or JSON."""

from __future__ import annotations

from typing import TYPE_CHECKING, cast

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.exceptions import ValidationError
from rest_framework.generics import get_object_or_404
from rest_framework.views import APIView

from accounts.ledger.selectors import accounts_of_merchant
from payments.api.openapi import ERRORS
from statements import camt053, exports, requests
from statements.responses import statement_response

if TYPE_CHECKING:
    from payments.api.auth import MerchantPrincipal


class StatementEntrySerializer(serializers.Serializer):
    """One entry of `format=json` (statements/exports.py `_entry_json`): for the schema."""

    entry = serializers.IntegerField()
    booked_at = serializers.DateTimeField()
    credit_debit = serializers.ChoiceField(choices=["CRDT", "DBIT"])
    amount = serializers.CharField(help_text="major units, unsigned: see credit_debit")
    balance_after = serializers.CharField(help_text="the booked balance after this entry")
    kind = serializers.CharField()
    end_to_end_id = serializers.CharField(allow_null=True)
    message_id = serializers.CharField(allow_null=True)
    payment_information_id = serializers.CharField(allow_null=True)
    instruction_id = serializers.CharField(allow_null=True)
    uetr = serializers.CharField(allow_null=True)
    payment = serializers.UUIDField(allow_null=True)
    batch = serializers.UUIDField(allow_null=True)
    counterparty_account = serializers.CharField(allow_null=True)
    counterparty_name = serializers.CharField(allow_null=True)
    reference = serializers.CharField()


class StatementJsonSerializer(serializers.Serializer):
    """The answer of `format=json` (the default): balances, then the entries, oldest first."""

    account = serializers.CharField()
    currency = serializers.CharField()
    # "from" is a keyword: the field is declared below
    to = serializers.DateField()
    opening_booked = serializers.CharField()
    closing_booked = serializers.CharField()
    closing_available = serializers.CharField()
    entries = StatementEntrySerializer(many=True)
    next_cursor = serializers.CharField(
        allow_null=True, help_text="the next page's cursor, or null on the last page"
    )


StatementJsonSerializer._declared_fields["from"] = serializers.DateField()


class StatementView(APIView):
    def perform_content_negotiation(self, request, force=False):
        # ?format= names the statement's format here, not one of DRF's renderers (which
        # would answer 404 for format=camt.053); errors still come back as JSON.
        return super().perform_content_negotiation(request, force=True)

    @extend_schema(
        summary="The account's statement of a period, with opening and closing balances",
        parameters=[
            OpenApiParameter("from", OpenApiTypes.DATE, description="first day (default today)"),
            OpenApiParameter("to", OpenApiTypes.DATE, description="last day (default: from)"),
            OpenApiParameter("format", str, enum=list(exports.FORMATS), description="default json"),
            OpenApiParameter(
                "limit",
                int,
                description="JSON: entries per page (default STATEMENT_PAGE_SIZE, 1000; "
                "at most STATEMENT_PAGE_MAX, 10000)",
            ),
            OpenApiParameter(
                "cursor",
                str,
                description="JSON: the page after this one, as given in next_cursor",
            ),
            OpenApiParameter(
                "version", str, enum=list(camt053.VERSIONS), description="for camt.053"
            ),
        ],
        responses={
            (200, "application/json"): OpenApiResponse(
                response=StatementJsonSerializer,
                description="format=json (the default): one page of entries and next_cursor",
            ),
            (200, "application/xml"): OpenApiResponse(
                response=OpenApiTypes.BINARY,
                description="format=camt.053; refused (400) past STATEMENT_MAX_ENTRIES entries",
            ),
            (200, "text/csv"): OpenApiResponse(
                response=OpenApiTypes.BINARY,
                description="format=csv; refused (400) past STATEMENT_MAX_ENTRIES entries",
            ),
            400: ERRORS[400],
            401: ERRORS[401],
            404: ERRORS[404],
        },
    )
    def get(self, request, pk):
        merchant = cast("MerchantPrincipal", request.user).merchant
        account = get_object_or_404(accounts_of_merchant(merchant=merchant), pk=pk)
        try:
            wanted = requests.read(request.query_params, default_format="json", account=account)
        except requests.BadRequest as error:
            raise ValidationError({error.field: [error.message]}) from None
        return statement_response(account, wanted)
