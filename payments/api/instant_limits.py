"""The merchant API's instant limits: the account JSON's limit fields, and
`PATCH /api/v1/accounts/{id}/` that asks for new ones (accounts/ledger/limits.py decides what
applies at once and what waits for a second person)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, cast

from drf_spectacular.utils import extend_schema, extend_schema_field
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.identity.audit import Actor, client_ip
from accounts.ledger import limits, money
from accounts.ledger.errors import LedgerError
from accounts.models import Account, InstantLimitChange
from payments.api.errors import APIError

if TYPE_CHECKING:
    from payments.api.auth import MerchantPrincipal

FIELDS = ("instant_limit_per_payment", "instant_limit_per_day")
LIMIT_SCHEMA = {
    "type": "string",
    "nullable": True,
    "pattern": r"^\d+(\.\d+)?$",
    "example": "500.00",
}


def _shown(value: int | None, currency: str) -> str | None:
    return None if value is None else money.to_major(value, currency)


def pending_data(change: InstantLimitChange | None, currency: str) -> dict[str, Any] | None:
    """The change that waits for a second person: only the limits it sets."""
    if change is None:
        return None
    data: dict[str, Any] = {"id": change.pk, "status": change.status}
    if change.sets_per_payment:
        data["instant_limit_per_payment"] = _shown(change.per_payment, currency)
    if change.sets_per_day:
        data["instant_limit_per_day"] = _shown(change.per_day, currency)
    data["requested_at"] = change.requested_at.isoformat()
    return data


class InstantLimitFields(serializers.Serializer):
    """Mixed into the account serializer: the limits in force and the change that waits."""

    Meta_fields = (*FIELDS, "instant_limit_pending")

    instant_limit_per_payment = serializers.SerializerMethodField()
    instant_limit_per_day = serializers.SerializerMethodField()
    instant_limit_pending = serializers.SerializerMethodField()

    @extend_schema_field(LIMIT_SCHEMA)
    def get_instant_limit_per_payment(self, obj: Account) -> str | None:
        return _shown(obj.instant_limit_per_payment, obj.currency)

    @extend_schema_field(LIMIT_SCHEMA)
    def get_instant_limit_per_day(self, obj: Account) -> str | None:
        return _shown(obj.instant_limit_per_day, obj.currency)

    @extend_schema_field(
        {
            "type": "object",
            "nullable": True,
            "description": "a higher limit waiting for a second person: only the limits it sets",
            "properties": {
                "id": {"type": "integer"},
                "status": {"type": "string", "enum": ["pending"]},
                "instant_limit_per_payment": LIMIT_SCHEMA,
                "instant_limit_per_day": LIMIT_SCHEMA,
                "requested_at": {"type": "string", "format": "date-time"},
            },
        }
    )
    def get_instant_limit_pending(self, obj: Account) -> dict[str, Any] | None:
        return pending_data(limits.pending_change(obj), obj.currency)


@extend_schema_field(LIMIT_SCHEMA)
class LimitField(serializers.Field):
    """A decimal string such as "500.00", or null for none; a JSON number is refused."""

    default_error_messages = {"not_string": 'a limit is a decimal string such as "500.00"'}

    def to_internal_value(self, data: Any) -> str:
        if not isinstance(data, str):
            self.fail("not_string")
        return data

    def to_representation(self, value: Any) -> Any:
        return value


class InstantLimitsRequestSerializer(serializers.Serializer):
    instant_limit_per_payment = LimitField(
        required=False, allow_null=True, help_text='a decimal string ("500.00"), or null for none'
    )
    instant_limit_per_day = LimitField(
        required=False, allow_null=True, help_text='a decimal string ("5000.00"), or null for none'
    )

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        unknown = (
            set(self.initial_data) - set(FIELDS) if isinstance(self.initial_data, dict) else ()
        )
        if unknown:
            raise serializers.ValidationError(
                {name: ["only the instant limits can be changed here"] for name in sorted(unknown)}
            )
        if not attrs:
            raise serializers.ValidationError(
                "name instant_limit_per_payment, instant_limit_per_day or both"
            )
        account: Account = self.context["account"]
        parsed: dict[str, int | None] = {}
        errors: dict[str, list[str]] = {}
        for name, value in attrs.items():
            if value is None:
                parsed[name] = None
                continue
            try:
                parsed[name] = money.to_minor(value.strip(), account.currency)
            except LedgerError as error:
                errors[name] = [f"{error.detail} (a limit is above zero, or null for none)"]
        if errors:
            raise serializers.ValidationError(errors)
        return parsed


class InstantLimitsMixin:
    """`PATCH /accounts/{id}/` on the account viewset."""

    @extend_schema(
        summary="Ask for new instant limits",
        description=(
            "A lower limit applies at once; a higher one (or null, none, where there was a "
            "limit) waits in `instant_limit_pending` until a second person confirms it on the "
            "dashboard or in the back office, never the person who created this API key. A new "
            "request replaces the one that waits. A payment above a limit fails with `AM14`."
        ),
        request=InstantLimitsRequestSerializer,
    )
    def partial_update(self, request: Request, pk: Any = None) -> Response:
        account = cast(Account, self.get_object())  # type: ignore[attr-defined]
        body = InstantLimitsRequestSerializer(data=request.data, context={"account": account})
        if not body.is_valid():
            raise APIError(
                status_code=400,
                code="invalid",
                detail="the instant limits are not valid",
                errors=body.errors,
            )
        principal = cast("MerchantPrincipal", request.user)
        wanted = cast(dict[str, int | None], body.validated_data)
        limits.instant_limits_request(
            account_id=account.pk,
            actor=Actor(label=principal.get_username(), ip=client_ip(request)),
            per_payment=wanted.get("instant_limit_per_payment", limits.UNCHANGED),
            per_day=wanted.get("instant_limit_per_day", limits.UNCHANGED),
            # The key's creator is who asks: that person may never confirm it.
            person_id=principal.api_key.created_by_id,
        )
        account.refresh_from_db()
        serializer = self.get_serializer(account)  # type: ignore[attr-defined]
        return Response(serializer.data)
