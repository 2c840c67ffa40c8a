"""Merchant authentication: `Authorization: Bearer <key>`, per-key throttling."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta

from django.utils import timezone
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from redis.exceptions import RedisError
from rest_framework import authentication, exceptions, permissions, throttling

from accounts.models import Merchant
from payments.models import MerchantAPIKey

logger = logging.getLogger(__name__)
LAST_USED_RESOLUTION = timedelta(minutes=1)  # at most one write a minute per key


@dataclass(frozen=True)
class MerchantPrincipal:
    """What `request.user` is on the API: the merchant behind a key."""

    merchant: Merchant
    api_key: MerchantAPIKey
    is_authenticated: bool = True
    is_anonymous: bool = False

    def get_username(self) -> str:
        return f"merchant:{self.merchant.pk} key:{self.api_key.prefix}"


class BearerAPIKeyAuthentication(authentication.BaseAuthentication):
    keyword = "Bearer"

    def authenticate(self, request):
        header = request.META.get("HTTP_AUTHORIZATION", "")
        if not header:
            return None
        scheme, _, key = header.partition(" ")
        if scheme.lower() != "bearer" or not key.strip():
            raise exceptions.AuthenticationFailed("use the header 'Authorization: Bearer <key>'")
        key = key.strip()
        prefix, _, _ = key.partition(".")
        api_key = (
            MerchantAPIKey.objects.select_related("merchant")
            .filter(revoked=False, prefix=prefix)
            .first()
        )
        if api_key is None or not api_key.is_valid(key):
            raise exceptions.AuthenticationFailed("the API key is not valid or was revoked")
        if api_key.has_expired:
            raise exceptions.AuthenticationFailed("the API key has expired")
        now = timezone.now()
        if api_key.last_used_at is None or now - api_key.last_used_at > LAST_USED_RESOLUTION:
            MerchantAPIKey.objects.filter(pk=api_key.pk).update(last_used_at=now)
        return MerchantPrincipal(merchant=api_key.merchant, api_key=api_key), api_key

    def authenticate_header(self, request) -> str:
        return 'Bearer realm="api"'


class IsMerchant(permissions.BasePermission):
    def has_permission(self, request, view) -> bool:
        return isinstance(request.user, MerchantPrincipal)


class APIKeyRateThrottle(throttling.SimpleRateThrottle):
    """A budget of requests per key, counted in the shared cache (Redis)."""

    scope = "api_key"

    def allow_request(self, request, view) -> bool:
        # The budget is a guard, not a dependency: without the cache, let requests through.
        try:
            return super().allow_request(request, view)
        except RedisError:
            logger.warning("throttle cache unavailable; request allowed")
            return True

    def get_cache_key(self, request, view):
        if isinstance(request.user, MerchantPrincipal):
            return self.cache_format % {"scope": self.scope, "ident": request.user.api_key.prefix}
        return self.cache_format % {"scope": self.scope, "ident": self.get_ident(request)}


class BearerAPIKeyScheme(OpenApiAuthenticationExtension):
    target_class = "payments.api.auth.BearerAPIKeyAuthentication"
    name = "merchantApiKey"

    def get_security_definition(self, auto_schema):
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "A merchant API key, made with `manage.py create_api_key`.",
        }
