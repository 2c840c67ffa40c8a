"""The merchant's doors to Verification of Payee (CONTRACT.md, "Compliance"):
`POST /api/v1/payee-verifications/` asks before paying, and
`GET|POST /api/v1/payee-verifications/batch-opt-out/` reads or changes the merchant's
opt-out of verification for its batches (audited)."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.identity.audit import Actor
from accounts.ledger.services import merchant_set_vop_batch_opt_out
from compliance.vop import protocol, requester
from payments.api.openapi import ERRORS


class VerifyRequestSerializer(serializers.Serializer):
    iban = serializers.CharField(max_length=34, help_text="the payee's IBAN (or account number)")
    name = serializers.CharField(max_length=protocol.NAME_LENGTH, help_text="the payee's name")


class VerificationSerializer(serializers.Serializer):
    result = serializers.ChoiceField(
        choices=protocol.RESULTS,
        help_text="MTCH match, CMTC close match, NMTC no match, NOAP not possible",
    )
    matched_name = serializers.CharField(
        allow_null=True, help_text="the account holder's name, with CMTC only"
    )


class OptOutSerializer(serializers.Serializer):
    opt_out = serializers.BooleanField(
        help_text="true: batches are no longer verified; false: verified again"
    )


class OptOutStateSerializer(serializers.Serializer):
    batch_opt_out = serializers.BooleanField()


class PayeeVerificationView(APIView):
    @extend_schema(
        summary="Verify a payee's name against its IBAN before paying",
        request=VerifyRequestSerializer,
        responses={200: VerificationSerializer, **ERRORS},
        description=(
            "Asks the payee's bank through the network (this hub itself for its own "
            "accounts). A bank that does not answer in time gives NOAP. The payment may "
            "carry the answer as `verification`, so that it is not asked again."
        ),
    )
    def post(self, request):
        data = VerifyRequestSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        verification = requester.verify(
            number=data.validated_data["iban"],
            name=data.validated_data["name"],
            merchant=request.user.merchant,
            purpose="api",
        )
        return Response(verification.as_json())


class BatchOptOutView(APIView):
    @extend_schema(
        summary="Whether your batches skip Verification of Payee",
        responses={200: OptOutStateSerializer, **ERRORS},
    )
    def get(self, request):
        return Response({"batch_opt_out": request.user.merchant.vop_batch_opt_out})

    @extend_schema(
        summary="Opt out of Verification of Payee for batches, or back in",
        request=OptOutSerializer,
        responses={200: OptOutStateSerializer, **ERRORS},
        description=(
            "A business customer may opt out for files of payments (IPR Art. 5c). Every "
            "batch validated while opted out says so; single payments are always verified."
        ),
    )
    def post(self, request):
        data = OptOutSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        merchant = merchant_set_vop_batch_opt_out(
            merchant_id=request.user.merchant.pk,
            opt_out=data.validated_data["opt_out"],
            actor=Actor(label=request.user.get_username()),
        )
        return Response({"batch_opt_out": merchant.vop_batch_opt_out})
