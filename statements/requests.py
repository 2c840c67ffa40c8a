"""Reading a statement request's query (from, to, format, version), for the API and the page."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from django.utils import timezone

from statements import camt053, exports, selectors


class BadRequest(ValueError):
    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


@dataclass(frozen=True)
class StatementRequest:
    span: selectors.Period
    format: str
    version: str


def _day(query, name: str, default: date) -> date:
    text = (query.get(name) or "").strip()
    if not text:
        return default
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise BadRequest(name, f"{text[:20]!r} is not a date (YYYY-MM-DD)") from None


def read(query, *, default_format: str) -> StatementRequest:
    today = timezone.localdate()
    first = _day(query, "from", today)
    last = _day(query, "to", first if query.get("from") else today)
    try:
        span = selectors.period(first, last)
    except selectors.PeriodError as error:
        raise BadRequest("to", str(error)) from None
    kind = (query.get("format") or default_format).strip()
    if kind not in exports.FORMATS:
        raise BadRequest("format", f"format must be one of {', '.join(exports.FORMATS)}")
    version = (query.get("version") or camt053.DEFAULT_VERSION).strip()
    if version not in camt053.VERSIONS:
        raise BadRequest("version", f"version must be one of {', '.join(camt053.VERSIONS)}")
    return StatementRequest(span=span, format=kind, version=version)
