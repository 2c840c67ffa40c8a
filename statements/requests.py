"""Reading a statement request's query (from, to, format, version), for the API and the page."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from django.conf import settings
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
    limit: int | None = None  # JSON: the page's most entries
    after: int | None = None  # JSON: the entry the page starts after (the cursor)


def _day(query, name: str, default: date) -> date:
    text = (query.get(name) or "").strip()
    if not text:
        return default
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise BadRequest(name, f"{text[:20]!r} is not a date (YYYY-MM-DD)") from None


def _limit(query) -> int:
    text = (query.get("limit") or "").strip()
    most = settings.STATEMENT_PAGE_MAX
    if not text:
        return min(settings.STATEMENT_PAGE_SIZE, most)
    if not text.isdigit() or not 1 <= int(text) <= most:
        raise BadRequest("limit", f"limit must be a whole number from 1 to {most}")
    return int(text)


def _cursor(query) -> int | None:
    text = (query.get("cursor") or "").strip()
    if not text:
        return None
    if not text.isdigit() or len(text) > 18:
        raise BadRequest("cursor", "not a cursor of this statement (use next_cursor as given)")
    return int(text)


def bounded(account, wanted: StatementRequest) -> None:
    """A camt.053 or CSV statement is written whole: refused, before any is written, when
    the period holds more than STATEMENT_MAX_ENTRIES entries (JSON is paged instead)."""
    if wanted.format == "json":
        return
    most = settings.STATEMENT_MAX_ENTRIES
    if selectors.entry_count(account, wanted.span, up_to=most + 1) > most:
        raise BadRequest(
            "to",
            f"the period holds more than {most} entries: ask for a shorter period, "
            "or for format=json, which is paged",
        )


def read(query, *, default_format: str, account=None) -> StatementRequest:
    """The request's statement, checked; with `account`, also that it is not too large."""
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
    wanted = StatementRequest(
        span=span,
        format=kind,
        version=version,
        limit=_limit(query) if kind == "json" else None,
        after=_cursor(query) if kind == "json" else None,
    )
    if account is not None:
        bounded(account, wanted)
    return wanted
