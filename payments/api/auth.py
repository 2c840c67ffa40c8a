"""Merchant authentication: `Authorization: Bearer <key>`, per-key throttling, and a
throttle on failed authentication per client address.

A successful request pays nothing for the failure throttle (no Redis round trip): a
failed one counts in Redis, shared by every process, and once an address is over its
budget each process that sees it fail remembers the block in memory, so even a valid
key from that address is refused there until the window ends.
"""

from __future__ import annotations

import ipaddress
import logging
import time
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.utils import timezone
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication, exceptions, permissions, throttling

from accounts.identity.audit import client_ip
from accounts.models import Merchant
from common import counters
from common.db import pgsql
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
    """The unrevoked, approved key with this prefix, its merchant loaded: once per API request."""
    rows = pgsql.execute(
        f"SELECT {pgsql.columns(MerchantAPIKey, 'k')}, {pgsql.columns(Merchant, 'm')} "  # noqa: S608 - identifiers from model metadata, quoted; values are parameters
        "FROM payments_merchantapikey k JOIN accounts_merchant m ON m.id = k.merchant_id "
        "WHERE k.prefix = %s AND NOT k.revoked AND k.approved_at IS NOT NULL LIMIT 1",
        [prefix],
    )
    if not rows:
        return None
    width = len(MerchantAPIKey._meta.concrete_fields)
    api_key = pgsql.from_row(MerchantAPIKey, rows[0][:width])
    api_key.merchant = pgsql.from_row(Merchant, rows[0][width:])
    return api_key


def clock() -> float:
    """The failure throttle's time (a function of its own, so that tests can freeze it)."""
    return time.time()


# Client address (or IPv6 /64) -> the time its block ends, as this process learnt it.
_blocked: dict[str, float] = {}
_BLOCKED_MAX = 10_000


def _failure_budget() -> tuple[int, int]:
    """(failures allowed, window in seconds) from API_AUTH_FAILURE_RATE, e.g. 20/minute."""
    count, _, period = settings.API_AUTH_FAILURE_RATE.partition("/")
    seconds = {"s": 1, "m": 60, "h": 3600, "d": 86400}[period.strip()[:1] or "m"]
    return int(count), seconds


def _address_key(request) -> str:
    """Who is failing: the client address (accounts.audit.client_ip, which honours
    TRUSTED_PROXY_COUNT); an IPv6 client by its /64, which one host holds whole."""
    address = client_ip(request)
    if address is None:
        return "unknown"
    parsed = ipaddress.ip_address(address)
    if parsed.version == 6 and parsed.ipv4_mapped is None:
        return str(ipaddress.ip_network(f"{address}/64", strict=False))
    return address


def _throttled(wait: float) -> exceptions.Throttled:
    return exceptions.Throttled(
        wait=max(1, int(wait + 0.999)),
        detail="too many failed authentication attempts from your address",
    )


def _check_not_blocked(address: str, now: float) -> None:
    until = _blocked.get(address)
    if until is None:
        return
    if now < until:
        raise _throttled(until - now)
    _blocked.pop(address, None)


def _failed(address: str, now: float, message: str) -> exceptions.APIException:
    """Count a failed attempt; the error to raise: 401, or 429 once over the budget."""
    limit, seconds = _failure_budget()
    count = counters.hit(f"auth-failures:{address}", seconds, now)
    if count is None:
        logger.warning("failed-authentication counters unavailable; not throttled")
        return exceptions.AuthenticationFailed(message)
    if count <= limit:
        return exceptions.AuthenticationFailed(message)
    until = counters.window_end(seconds, now)
    if len(_blocked) >= _BLOCKED_MAX:
        for stale in [a for a, end in _blocked.items() if end <= now]:
            del _blocked[stale]
        if len(_blocked) >= _BLOCKED_MAX:
            _blocked.clear()
    _blocked[address] = until
    logger.warning("authentication failures over budget; address blocked until window end")
    return _throttled(until - now)


class BearerAPIKeyAuthentication(authentication.BaseAuthentication):
    keyword = "Bearer"

    def authenticate(self, request):
        header = request.META.get("HTTP_AUTHORIZATION", "")
        if not header:
            return None
        if _blocked:  # a dictionary look-up: no round trip on the hot path
            address = _address_key(request)
            _check_not_blocked(address, clock())
        scheme, _, key = header.partition(" ")
        if scheme.lower() != "bearer" or not key.strip():
            raise _failed(
                _address_key(request), clock(), "use the header 'Authorization: Bearer <key>'"
            )
        key = key.strip()
        prefix, _, _ = key.partition(".")
        api_key = _active_key(prefix)
        if api_key is None or not api_key.is_valid(key):
            raise _failed(_address_key(request), clock(), "the API key is not valid or was revoked")
        if api_key.has_expired:
            raise _failed(_address_key(request), clock(), "the API key has expired")
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
        count = counters.hit(ident, self.duration, now)
        if count is None:
            # Without Redis, let requests through rather than refuse payments.
            logger.warning("throttle counters unavailable; request allowed")
            return True
        if count > self.num_requests:
            self.retry_after = max(1.0, counters.window_end(self.duration, now) - now)
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
