"""GET /api/v1/accounts/{id}/statement/: a merchant's own account, as camt.053, CSV or JSON."""

from __future__ import annotations

from typing import TYPE_CHECKING, cast

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework.exceptions import ValidationError
from rest_framework.generics import get_object_or_404
from rest_framework.views import APIView

from accounts.ledger.selectors import accounts_of_merchant
from payments.api.openapi import ERRORS
from statements import camt053, exports, requests
from statements.responses import statement_response

if TYPE_CHECKING:
    from payments.api.auth import MerchantPrincipal


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
                "version", str, enum=list(camt053.VERSIONS), description="for camt.053"
            ),
        ],
        responses={
            200: OpenApiResponse(
                response=OpenApiTypes.BINARY,
                description="camt.053 (application/xml), CSV or JSON",
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
            wanted = requests.read(request.query_params, default_format="json")
        except requests.BadRequest as error:
            raise ValidationError({error.field: [error.message]}) from None
        return statement_response(account, wanted)
