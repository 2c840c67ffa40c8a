"""The merchant API's accounts and payments endpoints: thin views over the services."""

from __future__ import annotations

from typing import TYPE_CHECKING, cast

from drf_spectacular.utils import (
    extend_schema,
    extend_schema_view,
)
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from accounts.identity.audit import Actor
from accounts.ledger.selectors import account_entries, accounts_of_merchant
from accounts.ledger.services import merchant_rotate_webhook_secret
from accounts.models import Account
from iso20022 import addresses
from payments import external, selectors, services, verification
from payments.api import serializers
from payments.api.filters import PaymentFilter
from payments.api.instant_limits import InstantLimitsMixin
from payments.api.openapi import ERRORS, IDEMPOTENCY_KEY
from payments.api.pagination import NewestIdCursorPagination, NumberCursorPagination
from payments.idempotency import idempotent
from payments.models import Payment, WebhookDelivery

if TYPE_CHECKING:
    # What BearerAPIKeyAuthentication makes request.user; the stubs know Django's users only.
    from payments.api.auth import MerchantPrincipal


@extend_schema_view(
    list=extend_schema(
        summary="Your accounts", responses={200: serializers.AccountSerializer(many=True), **ERRORS}
    ),
    retrieve=extend_schema(
        summary="One of your accounts", responses={200: serializers.AccountSerializer, **ERRORS}
    ),
    partial_update=extend_schema(responses={200: serializers.AccountSerializer, **ERRORS}),
)
class AccountViewSet(InstantLimitsMixin, viewsets.ReadOnlyModelViewSet):
    serializer_class = serializers.AccountSerializer
    pagination_class = NumberCursorPagination

    queryset = Account.objects.none()  # for the schema; requests use get_queryset

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return self.queryset
        return accounts_of_merchant(merchant=cast("MerchantPrincipal", self.request.user).merchant)

    @extend_schema(
        summary="The account's statement, newest first",
        responses={200: serializers.EntrySerializer(many=True), **ERRORS},
    )
    @action(detail=True, methods=["get"], pagination_class=NewestIdCursorPagination)
    def entries(self, request, pk=None):
        account = self.get_object()
        page = self.paginate_queryset(account_entries(account=account))
        return self.get_paginated_response(serializers.EntrySerializer(page, many=True).data)


@extend_schema_view(
    list=extend_schema(
        summary="Your payments, newest first",
        responses={200: serializers.PaymentSerializer(many=True), **ERRORS},
    ),
    retrieve=extend_schema(
        summary="One payment", responses={200: serializers.PaymentSerializer, **ERRORS}
    ),
)
class PaymentViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    serializer_class = serializers.PaymentSerializer
    filterset_class = PaymentFilter

    queryset = Payment.objects.none()  # for the schema; requests use get_queryset

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return self.queryset
        return selectors.payments_of_merchant(
            merchant=cast("MerchantPrincipal", self.request.user).merchant
        )

    def _checked(self, request):
        """The payment request validated and, for a creditor at another bank, its payee
        verified, before (outside) the payment's transaction: that check is a request to the
        other bank, and is recorded whatever becomes of the payment. One of this hub's own
        accounts is checked inside the transaction, with the payment (no one else is asked)."""
        merchant = request.user.merchant
        data = serializers.PaymentCreateSerializer(
            data=request.data, context={"merchant": merchant}
        )
        data.is_valid(raise_exception=True)
        if data.validated_data["creditor_bank"] is None:
            return data, None
        return data, verification.for_payment(data.validated_data, merchant=merchant)

    def _render(self, payment, code=status.HTTP_200_OK) -> Response:
        return Response(serializers.PaymentSerializer(payment).data, status=code)

    @extend_schema(
        summary="Make a payment (authorize, and capture unless capture=false)",
        request=serializers.PaymentCreateSerializer,
        parameters=[IDEMPOTENCY_KEY],
        responses={201: serializers.PaymentSerializer, **ERRORS},
        description=(
            "A payment refused because of an account's state (insufficient funds, frozen "
            "account) is still recorded: 201 with status `failed` and a `failure_code`."
        ),
    )
    @idempotent(before=_checked)
    def create(self, request, prepared):
        merchant = request.user.merchant
        data, checked = prepared
        if data.validated_data["creditor_bank"] is not None:
            # A creditor at another bank: the clearing network's door (payments/external.py).
            payment = external.send(
                merchant=merchant,
                debtor=data.validated_data["debtor"],
                creditor_iban=data.validated_data["creditor_account"],
                creditor_name=data.validated_data["creditor_name"],
                creditor_address=data.validated_data["creditor_address"],
                amount=data.validated_data["amount_minor"],
                currency=data.validated_data["currency"],
                reference=data.validated_data["reference"],
                end_to_end_id=data.validated_data["end_to_end_id"],
                api_key=request.auth,
                verification=checked,
            )
            response = self._render(payment, status.HTTP_201_CREATED)
            # Posted once the debit (and the Idempotency-Key's record) has committed.
            response.after_commit = lambda: self._render(  # type: ignore[attr-defined]
                external.deliver(payment), status.HTTP_201_CREATED
            )
            return response
        checked = verification.for_payment(data.validated_data, merchant=merchant)
        payment = services.payment_authorize(
            merchant=merchant,
            debtor=data.validated_data["debtor"],
            creditor=data.validated_data["creditor"],
            amount=data.validated_data["amount_minor"],
            currency=data.validated_data["currency"],
            reference=data.validated_data["reference"],
            end_to_end_id=data.validated_data["end_to_end_id"],
            capture=data.validated_data["capture"],
            api_key=request.auth,
            creditor_address=addresses.clean(data.validated_data.get("creditor_address")),
            verification=checked,
        )
        return self._render(payment, status.HTTP_201_CREATED)

    @extend_schema(
        summary="Capture an authorized payment, in full or in part",
        request=serializers.CaptureSerializer,
        parameters=[IDEMPOTENCY_KEY],
        responses={200: serializers.PaymentSerializer, **ERRORS},
    )
    @action(detail=True, methods=["post"])
    @idempotent
    def capture(self, request, pk=None):
        payment = self.get_object()
        data = serializers.CaptureSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        payment = services.payment_capture(
            payment_id=payment.pk,
            merchant=request.user.merchant,
            amount=data.minor(payment.currency),
        )
        return self._render(payment)

    @extend_schema(
        summary="Void an authorized payment (the hold is released)",
        request=None,
        parameters=[IDEMPOTENCY_KEY],
        responses={200: serializers.PaymentSerializer, **ERRORS},
    )
    @action(detail=True, methods=["post"])
    @idempotent
    def void(self, request, pk=None):
        payment = self.get_object()
        payment = services.payment_void(payment_id=payment.pk, merchant=request.user.merchant)
        return self._render(payment)

    @extend_schema(
        summary="Ask another bank for a completed transfer back (a recall)",
        request=serializers.RecallSerializer,
        parameters=[IDEMPOTENCY_KEY],
        responses={200: serializers.PaymentSerializer, **ERRORS},
    )
    @action(detail=True, methods=["post"])
    @idempotent
    def recall(self, request, pk=None):
        payment = self.get_object()
        data = serializers.RecallSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        payment = external.recall(
            payment_id=payment.pk,
            merchant=request.user.merchant,
            reason=data.validated_data["reason"],
            actor=Actor(label=request.user.get_username()),
        )
        return self._render(payment)

    @extend_schema(
        summary="Refund a completed payment, in full (default) or in part",
        request=serializers.RefundCreateSerializer,
        parameters=[IDEMPOTENCY_KEY],
        responses={201: serializers.RefundSerializer, **ERRORS},
    )
    @action(detail=True, methods=["post"])
    @idempotent
    def refunds(self, request, pk=None):
        payment = self.get_object()
        data = serializers.RefundCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        refund = services.payment_refund(
            payment_id=payment.pk,
            merchant=request.user.merchant,
            amount=data.minor(payment.currency),
            reason=data.validated_data["reason"],
        )
        return Response(serializers.RefundSerializer(refund).data, status=status.HTTP_201_CREATED)


@extend_schema_view(
    list=extend_schema(
        summary="Your webhook deliveries, newest first",
        responses={200: serializers.WebhookDeliverySerializer(many=True), **ERRORS},
    ),
)
class WebhookDeliveryViewSet(mixins.ListModelMixin, viewsets.GenericViewSet):
    serializer_class = serializers.WebhookDeliverySerializer
    queryset = WebhookDelivery.objects.none()

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return self.queryset
        return selectors.webhooks_of_merchant(
            merchant=cast("MerchantPrincipal", self.request.user).merchant
        ).prefetch_related("attempts")

    @extend_schema(
        summary="Rotate your webhook signing secret",
        request=None,
        responses={200: serializers.WebhookSecretSerializer, **ERRORS},
    )
    @action(detail=False, methods=["post"], url_path="rotate-secret")
    def rotate_secret(self, request):
        merchant = merchant_rotate_webhook_secret(
            merchant_id=request.user.merchant.pk, actor=Actor(label=request.user.get_username())
        )
        return Response({"webhook_secret": merchant.webhook_secret})
