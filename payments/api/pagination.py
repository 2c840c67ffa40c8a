"""Cursor pagination for every list: {"next", "previous", "results"}, ?limit= up to 200."""

from rest_framework.pagination import CursorPagination


class CreatedCursorPagination(CursorPagination):
    ordering: tuple[str, ...] = ("-created_at", "-id")
    page_size = 50
    page_size_query_param = "limit"
    max_page_size = 200


class NewestIdCursorPagination(CreatedCursorPagination):
    ordering = ("-id",)


class NumberCursorPagination(CreatedCursorPagination):
    ordering = ("number",)
