"""Merchant authentication: `Authorization: Bearer <key>`, per-key throttling."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta
from functools import cache

import redis
from django.conf import settings
from django.utils import timezone
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from redis.exceptions import RedisError
from rest_framework import authentication, exceptions, permissions, throttling

from accounts.ledger import pgsql
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


def _active_key(prefix: str) -> MerchantAPIKey | None:
    """The unrevoked key with this prefix, its merchant loaded: once per API request."""
    rows = pgsql.execute(
        f"SELECT {pgsql.columns(MerchantAPIKey, 'k')}, {pgsql.columns(Merchant, 'm')} "
        "FROM payments_merchantapikey k JOIN accounts_merchant m ON m.id = k.merchant_id "
        "WHERE k.prefix = %s AND NOT k.revoked LIMIT 1",
        [prefix],
    )
    if not rows:
        return None
    width = len(MerchantAPIKey._meta.concrete_fields)
    api_key = pgsql.from_row(MerchantAPIKey, rows[0][:width])
    api_key.merchant = pgsql.from_row(Merchant, rows[0][width:])
    return api_key


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
        api_key = _active_key(prefix)
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


@cache
def _redis() -> redis.Redis:
    """This process's client for the throttle's counters (short timeouts: a guard, not a need)."""
    return redis.Redis.from_url(settings.REDIS_URL, socket_timeout=0.5, socket_connect_timeout=0.5)


class APIKeyRateThrottle(throttling.SimpleRateThrottle):
    """A budget of requests per key and window (`API_THROTTLE_RATE`, e.g. 100/second),
    counted in Redis so that every server process shares it.

    A fixed window: one INCR per request (DRF's sliding window reads and rewrites the
    whole list of recent request times, twice the round trips and growing with the rate).
    """

    scope = "api_key"
    # Set by SimpleRateThrottle.__init__ from the rate (ints once a rate is set); not in the stubs.
    num_requests: int
    duration: int

    def allow_request(self, request, view) -> bool:
        if self.rate is None:
            return True
        ident = self.get_cache_key(request, view)
        now = self.timer()
        window = int(now // self.duration)
        key = f"payhub:{ident}:{window}"
        try:
            pipe = _redis().pipeline(transaction=False)
            pipe.incr(key)
            pipe.expire(key, self.duration + 1)
            count, _ = pipe.execute()
        except RedisError:
            # Without Redis, let requests through rather than refuse payments.
            logger.warning("throttle counters unavailable; request allowed")
            return True
        if count > self.num_requests:
            self.retry_after = max(1.0, (window + 1) * self.duration - now)
            return False
        return True

    def wait(self) -> float:
        return self.retry_after

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
