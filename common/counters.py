"""Fixed-window counters in Redis, shared by every process: one INCR and its expiry per
event, in one round trip (a sliding window would read and rewrite a list of times, growing
with the rate). Used by the API's throttles and the VoP responder's per-peer rate.

A guard, not a need: `hit` gives None when Redis does not answer, and each caller says what
that means (the API lets the request through; the VoP responder counts in the database).
"""

from __future__ import annotations

from functools import cache

import redis
from redis.exceptions import RedisError

from common import redis_client


@cache
def _redis() -> redis.Redis:
    """This process's client for the counters (short time-outs)."""
    return redis_client.client(socket_timeout=0.5, socket_connect_timeout=0.5)


def window_end(seconds: int, now: float) -> float:
    """When the window of `seconds` that holds `now` (epoch seconds) ends."""
    return (int(now // seconds) + 1) * seconds


def hit(name: str, seconds: int, now: float) -> int | None:
    """Count one event under `name` in its window of `seconds` holding `now` (epoch
    seconds); the window's count with it, or None without Redis."""
    key = f"payhub:{name}:{int(now // seconds)}"
    try:
        pipe = _redis().pipeline(transaction=False)
        pipe.incr(key)
        pipe.expire(key, seconds + 1)
        count, _ = pipe.execute()
    except RedisError:
        return None
    return int(count)
