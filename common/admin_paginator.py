"""An admin paginator for tables of millions of rows: it never counts them all.

Unfiltered, it takes the planner's row estimate; filtered, it
counts at most COUNT_LIMIT rows (a search narrower than that is exact).
"""

from __future__ import annotations

from typing import Any, cast

from django.core.paginator import Paginator
from django.db import connection
from django.db.models import QuerySet
from django.utils.functional import cached_property

COUNT_LIMIT = 100_000


class LargeTablePaginator(Paginator):
    @cached_property
    def count(self) -> int:
        queryset = self.object_list
        query = getattr(queryset, "query", None)
        if query is None:
            return len(queryset)
        queryset = cast("QuerySet[Any]", queryset)  # it has a query
        if not query.where:
            with connection.cursor() as cursor:
                cursor.execute(
                    "SELECT reltuples::bigint FROM pg_class WHERE oid = %s::regclass",
                    [queryset.model._meta.db_table],
                )
                row = cursor.fetchone()
            if row and row[0] > COUNT_LIMIT:
                return int(row[0])
        return queryset.values("pk")[:COUNT_LIMIT].count()
