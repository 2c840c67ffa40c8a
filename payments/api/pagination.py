"""Cursor pagination for every list: {"next", "previous", "results"}, ?limit= up to 200.

A cursor is the client's to hold but ours to trust only once it has been checked:
a forged one (bad base64, a position that is not of the ordering field's type) is
a 400 `invalid_cursor` before any query, never a 404 or a database error.
"""

from __future__ import annotations

from django.core.exceptions import ValidationError
from rest_framework.exceptions import NotFound
from rest_framework.pagination import CursorPagination

from payments.api.errors import APIError


def invalid_cursor() -> APIError:
    return APIError(
        status_code=400,
        code="invalid_cursor",
        detail="the cursor is not one this API gave out; start again from the first page",
    )


class CreatedCursorPagination(CursorPagination):
    ordering: tuple[str, ...] = ("-created_at", "-id")
    page_size = 50
    page_size_query_param = "limit"
    max_page_size = 200

    def paginate_queryset(self, queryset, request, view=None):
        self._model = queryset.model
        return super().paginate_queryset(queryset, request, view)

    def decode_cursor(self, request):
        try:
            cursor = super().decode_cursor(request)
        except NotFound:
            raise invalid_cursor() from None
        if cursor is not None and cursor.position is not None:
            self._check_position(str(cursor.position))
        return cursor

    def _check_position(self, position: str) -> None:
        """The position must parse as the first ordering field's value, as the query needs."""
        if "\x00" in position:
            raise invalid_cursor()  # PostgreSQL refuses NUL in text
        name = self.ordering[0].lstrip("-")
        field = self._model._meta.get_field(name)
        try:
            value = field.to_python(position)
            field.get_prep_value(value)
        except (ValidationError, ValueError, TypeError, OverflowError):
            raise invalid_cursor() from None
        if isinstance(value, int) and not -(2**63) <= value < 2**63:
            raise invalid_cursor()


class NewestIdCursorPagination(CreatedCursorPagination):
    ordering = ("-id",)


class NumberCursorPagination(CreatedCursorPagination):
    ordering = ("number",)
