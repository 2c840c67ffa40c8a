"""Redis clients outside django-rq: the API throttle's counters and the cache's pool, found
at REDIS_URL or, when REDIS_SENTINELS is set, at the master that Sentinel names (asked
again after a connection to it fails, so a failover needs no restart)."""

from __future__ import annotations

from functools import cache
from typing import Any

import redis
from django.conf import settings
from redis.sentinel import Sentinel, SentinelConnectionPool


@cache
def sentinel() -> Sentinel:
    """This process's view of the sentinels (settings.REDIS_SENTINELS must be set)."""
    return Sentinel(
        settings.REDIS_SENTINELS,
        sentinel_kwargs={"socket_timeout": 1, "socket_connect_timeout": 1},
    )


def client(**options: Any) -> redis.Redis:
    """A client for the master: REDIS_URL's server, or Sentinel's current master."""
    if not settings.REDIS_SENTINELS:
        return redis.Redis.from_url(settings.REDIS_URL, **options)
    auth = {k.lower(): v for k, v in settings.REDIS_SENTINEL_AUTH.items() if v is not None}
    return sentinel().master_for(settings.REDIS_SENTINEL_MASTER, **auth, **options)


def master_address() -> tuple[str, int] | None:
    """Where Sentinel says the master is now; None without Sentinel."""
    if not settings.REDIS_SENTINELS:
        return None
    host, port = sentinel().discover_master(settings.REDIS_SENTINEL_MASTER)
    return str(host), int(port)


class SentinelPool(SentinelConnectionPool):
    """The cache's pool (CACHES OPTIONS `pool_class`): Django's RedisCache builds its pool
    with `from_url(LOCATION, **options)`; under Sentinel the URL gives only the database
    number and credentials, the master comes from the sentinels."""

    @classmethod
    def from_url(cls, url: str, **options: Any) -> SentinelPool:
        auth = {k.lower(): v for k, v in settings.REDIS_SENTINEL_AUTH.items() if v is not None}
        return cls(
            settings.REDIS_SENTINEL_MASTER,
            sentinel(),
            **{"socket_connect_timeout": 1, **auth, **options},
        )
