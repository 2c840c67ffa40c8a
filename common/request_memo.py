"""What is read once per HTTP request: a value that does not change while one request runs
(the active clearing peers, the hub's key row) is read from the database by the first
module that needs it, not again by each one after it (an instant payment to another bank
asked for the peers three times and for the key row twice).

Kept per thread (a gthread worker runs one request per thread) from Django's
`request_started` to `request_finished`; outside a request (a worker's job, a command)
nothing is kept and every call reads afresh.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, TypeVar

from django.core.signals import request_finished, request_started

T = TypeVar("T")
_local = threading.local()


def _start(**kwargs: Any) -> None:
    _local.values = {}


def _finish(**kwargs: Any) -> None:
    _local.values = None


request_started.connect(_start, dispatch_uid="common.request_memo.start")
request_finished.connect(_finish, dispatch_uid="common.request_memo.finish")


def memo(key: str, make: Callable[[], T]) -> T:
    """`make()`'s value, made once in the current request (every time outside one)."""
    values: dict[str, Any] | None = getattr(_local, "values", None)
    if values is None:
        return make()
    if key not in values:
        values[key] = make()
    return values[key]


def forget(key: str) -> None:
    """Drop a kept value (the code that changed it in this request calls this)."""
    values = getattr(_local, "values", None)
    if values is not None:
        values.pop(key, None)
