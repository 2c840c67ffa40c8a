"""The merchant API's batch endpoints: upload, read, cancel, reports."""

from __future__ import annotations

from typing import TYPE_CHECKING, cast

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_view,
)
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.generics import get_object_or_404
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.identity.audit import Actor
from batches import selectors, services
from batches.api import serializers
from batches.models import Batch
from batches.responses import csv_response, unknown_version, xml_response
from iso20022.pain002 import DEFAULT_VERSION, VERSIONS
from payments.api.openapi import ERRORS, IDEMPOTENCY_KEY
from payments.api.pagination import CreatedCursorPagination
from payments.idempotency import idempotent

if TYPE_CHECKING:
    # What BearerAPIKeyAuthentication makes request.user; the stubs know Django's users only.
    from payments.api.auth import MerchantPrincipal


class RowCursorPagination(CreatedCursorPagination):
    ordering = ("row",)


def merchant_actor(request) -> Actor:
    return Actor(label=request.user.get_username())


@extend_schema_view(
    list=extend_schema(
        summary="Your batches, newest first",
        responses={200: serializers.BatchSerializer(many=True), **ERRORS},
    ),
    retrieve=extend_schema(
        summary="One batch, with progress and approvals",
        responses={200: serializers.BatchSerializer, **ERRORS},
    ),
)
class BatchViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    serializer_class = serializers.BatchSerializer
    queryset = Batch.objects.none()

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return self.queryset
        return selectors.batches_of_merchant(
            merchant=cast("MerchantPrincipal", self.request.user).merchant
        )

    @extend_schema(
        summary="Upload a batch file (CSV or pain.001); validation starts in the background",
        request={"multipart/form-data": serializers.BatchUploadSerializer},
        parameters=[IDEMPOTENCY_KEY],
        responses={201: serializers.BatchSerializer, **ERRORS},
    )
    @idempotent
    def create(self, request):
        data = serializers.BatchUploadSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        batch = services.batch_upload(
            merchant=request.user.merchant,
            upload=data.validated_data["file"],
            debtor_account_number=data.validated_data["debtor_account"],
            execution_date=data.validated_data["execution_date"],
            actor=merchant_actor(request),
            api_key=request.auth,
        )
        return Response(serializers.BatchSerializer(batch).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        summary="The batch's rows and their outcome",
        responses={200: serializers.BatchItemSerializer(many=True), **ERRORS},
    )
    @action(detail=True, methods=["get"], pagination_class=RowCursorPagination)
    def items(self, request, pk=None):
        batch = self.get_object()
        page = self.paginate_queryset(batch.items.all())
        return self.get_paginated_response(serializers.BatchItemSerializer(page, many=True).data)

    @extend_schema(
        summary="Withdraw a batch not yet approved",
        request=None,
        parameters=[IDEMPOTENCY_KEY],
        responses={200: serializers.BatchSerializer, **ERRORS},
    )
    @action(detail=True, methods=["post"])
    @idempotent
    def cancel(self, request, pk=None):
        batch = self.get_object()
        batch = services.batch_cancel(
            batch_id=batch.pk, merchant=request.user.merchant, actor=merchant_actor(request)
        )
        return Response(serializers.BatchSerializer(batch).data)


REPORT_RESPONSES = {
    200: OpenApiResponse(response=OpenApiTypes.BINARY, description="the report file"),
    401: ERRORS[401],
    404: ERRORS[404],
    429: ERRORS[429],
}


class _ReportView(APIView):
    kind = ""

    def get_batch(self, request, pk) -> Batch:
        return get_object_or_404(Batch.objects.filter(merchant=request.user.merchant), pk=pk)


class ResultCsvView(_ReportView):
    @extend_schema(summary="Each row's outcome, as CSV", responses=REPORT_RESPONSES)
    def get(self, request, pk):
        return csv_response(self.get_batch(request, pk), "report")


class ResultXmlView(_ReportView):
    @extend_schema(
        summary="Each row's outcome, as an ISO 20022 pain.002 status report",
        parameters=[
            OpenApiParameter(
                "version",
                str,
                enum=list(VERSIONS),
                description=f"the pain.002 version; {DEFAULT_VERSION} by default",
            )
        ],
        responses={**REPORT_RESPONSES, 400: ERRORS[400]},
    )
    def get(self, request, pk):
        batch = self.get_batch(request, pk)
        version = request.query_params.get("version", DEFAULT_VERSION)
        if version not in VERSIONS:
            raise ValidationError({"version": [unknown_version(version)]})
        return xml_response(batch, version)


class FailedCsvView(_ReportView):
    @extend_schema(
        summary="The failed and invalid rows in the CSV upload format", responses=REPORT_RESPONSES
    )
    def get(self, request, pk):
        return csv_response(self.get_batch(request, pk), "failed")
