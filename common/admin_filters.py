"""Admin list filters typed into a box rather than picked from a list: a date range and
any single value (an account number, an amount), for tables too large to list choices of.

Each filter reads its own query-string parameters and leaves the rest to the page; a
value that does not parse is refused with the admin's usual "invalid filter" notice.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Any

from django.contrib import admin
from django.contrib.admin.options import IncorrectLookupParameters
from django.db.models import QuerySet
from django.utils import timezone


class InputsFilter(admin.ListFilter):
    """A filter of one or more typed values: subclasses list `inputs` and filter."""

    template = "admin/inputs_filter.html"
    # (query-string parameter, label, HTML input type)
    inputs: tuple[tuple[str, str, str], ...] = ()
    help_text = ""

    def __init__(self, request, params, model, model_admin):
        super().__init__(request, params, model, model_admin)
        self.values: dict[str, str] = {}
        for name, _label, _type in self.inputs:
            if name in params:
                value = params.pop(name)
                value = value[-1] if isinstance(value, list) else value
                if value.strip():
                    self.values[name] = value.strip()
                    self.used_parameters[name] = value.strip()

    def has_output(self) -> bool:
        return True

    def expected_parameters(self) -> list[str | None]:
        return [name for name, _label, _type in self.inputs]

    def choices(self, changelist):
        mine = [name for name, _label, _type in self.inputs]
        hidden = []
        for key, value in changelist.params.items():
            if key in mine or key == "p":
                continue
            for item in value if isinstance(value, list) else [value]:
                hidden.append((key, item))
        yield {
            "inputs": [
                {"name": name, "label": label, "type": kind, "value": self.values.get(name, "")}
                for name, label, kind in self.inputs
            ],
            "hidden": hidden,
            "help_text": self.help_text,
            "active": bool(self.values),
            "clear_url": changelist.get_query_string(remove=mine),
        }

    def queryset(self, request, queryset: QuerySet) -> QuerySet:
        return self.filter(queryset, self.values) if self.values else queryset

    def filter(self, queryset: QuerySet, values: dict[str, str]) -> QuerySet:
        raise NotImplementedError


def _day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise IncorrectLookupParameters(f"{text!r} is not a date: write it as YYYY-MM-DD") from None


def date_range_filter(field: str, title: str = "") -> type[InputsFilter]:
    """A from/to filter of days (YYYY-MM-DD, both included, days of TIME_ZONE) on `field`:
    a range condition the field's index serves, so only the days asked for are read."""

    class DateRangeFilter(InputsFilter):
        inputs = (
            (f"{field}_from", "from", "date"),
            (f"{field}_to", "to", "date"),
        )
        help_text = "Days as YYYY-MM-DD, both included."

        def filter(self, queryset: QuerySet, values: dict[str, str]) -> QuerySet:
            zone = timezone.get_current_timezone()
            lookups: dict[str, Any] = {}
            if f"{field}_from" in values:
                first = _day(values[f"{field}_from"])
                lookups[f"{field}__gte"] = datetime.combine(first, time.min, tzinfo=zone)
            if f"{field}_to" in values:
                last = _day(values[f"{field}_to"])
                lookups[f"{field}__lt"] = datetime.combine(
                    last + timedelta(days=1), time.min, tzinfo=zone
                )
            return queryset.filter(**lookups)

    DateRangeFilter.title = title or f"{field.replace('_', ' ')} (days)"
    DateRangeFilter.__name__ = f"DateRangeFilter_{field}"
    return DateRangeFilter
