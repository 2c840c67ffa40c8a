"""Keyset ("seek") paging for the dashboard's long lists: payments, accounts, statements.

A page is found from the last row seen, never by OFFSET and never with a
COUNT(*), so page 10,000 of a table of millions costs what page 1 costs. The
cursor is an opaque URL-safe token holding the direction and the sort key of
the row to continue from; a cursor that does not decode gives the first page.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, TypeVar

from django.core.exceptions import ValidationError
from django.db.models import Model, Q, QuerySet

T = TypeVar("T", bound=Model)

DEFAULT_PAGE_SIZE = 50


@dataclass(frozen=True)
class Page(Generic[T]):
    items: list[T]
    next_cursor: str | None
    previous_cursor: str | None

    @property
    def has_other_pages(self) -> bool:
        return bool(self.next_cursor or self.previous_cursor)


def _field_value(obj: Model, field: str) -> Any:
    value: Any = obj
    for part in field.split("__"):
        value = getattr(value, part)
    if isinstance(value, datetime):
        return value.isoformat()
    if value is None or isinstance(value, int | str):
        return value
    return str(value)  # UUID, Decimal: the lookups parse their text back


def encode_cursor(obj: Model, ordering: Sequence[str], *, backwards: bool) -> str:
    values = [_field_value(obj, field.lstrip("-")) for field in ordering]
    raw = json.dumps({"b": backwards, "v": values}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(token: str, ordering: Sequence[str]) -> tuple[bool, list[Any]] | None:
    """(backwards, values) from a cursor, or None when it is not one of ours."""
    if not token:
        return None
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        data = json.loads(raw)
        backwards, values = data["b"], data["v"]
    except (binascii.Error, ValueError, TypeError, KeyError):
        return None
    if not isinstance(backwards, bool) or not isinstance(values, list):
        return None
    if len(values) != len(ordering) or not all(isinstance(v, int | str) for v in values):
        return None
    return backwards, values


def _after(ordering: Sequence[str], values: list[Any]) -> Q:
    """Rows strictly after `values` in `ordering`: (a > x) or (a = x and b > y) or ..."""
    condition = Q()
    equal_so_far: dict[str, Any] = {}
    for field, value in zip(ordering, values, strict=True):
        name = field.lstrip("-")
        lookup = "lt" if field.startswith("-") else "gt"
        condition |= Q(**equal_so_far, **{f"{name}__{lookup}": value})
        equal_so_far[name] = value
    return condition


def _reversed(ordering: Sequence[str]) -> list[str]:
    return [field[1:] if field.startswith("-") else f"-{field}" for field in ordering]


def keyset_page(
    queryset: QuerySet[T],
    *,
    ordering: Sequence[str],
    cursor: str = "",
    size: int = DEFAULT_PAGE_SIZE,
) -> Page[T]:
    """One page of `queryset` in `ordering` (whose last field must be unique), from `cursor`.

    Reads `size + 1` rows to learn whether there is a further page; never counts.
    """
    # A value that does not parse as the field's type (a forged cursor) gives a first page too.
    try:
        decoded = decode_cursor(cursor, ordering)
        if decoded is None:
            backwards = False
            rows = list(queryset.order_by(*ordering)[: size + 1])
        else:
            backwards, values = decoded
            walk = _reversed(ordering) if backwards else list(ordering)
            rows = list(queryset.filter(_after(walk, values)).order_by(*walk)[: size + 1])
    except (ValidationError, ValueError, TypeError):
        decoded, backwards = None, False
        rows = list(queryset.order_by(*ordering)[: size + 1])
    more = len(rows) > size
    items = rows[:size]
    if backwards:
        items.reverse()
    if not items:
        return Page(items=[], next_cursor=None, previous_cursor=None)
    if backwards:
        has_next, has_previous = True, more
    else:
        has_next, has_previous = more, decoded is not None
    return Page(
        items=items,
        next_cursor=encode_cursor(items[-1], ordering, backwards=False) if has_next else None,
        previous_cursor=encode_cursor(items[0], ordering, backwards=True) if has_previous else None,
    )
