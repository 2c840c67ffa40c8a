"""An admin paginator for tables of millions of rows: it never counts them all.

A small table (COUNT_LIMIT rows or fewer) is counted. Otherwise, unfiltered, it takes
the planner's row estimate of the table. Filtered, it asks the planner how many rows
the filters leave: when that is more than an index can count quickly (COUNT_LIMIT, or
EXACT_SHARE of the table if less) it says "about N", unless the first page shows that
there are in fact few; otherwise it counts at most COUNT_LIMIT + 1 rows and says "more
than COUNT_LIMIT" past that.
"""

from __future__ import annotations

import json
from typing import Any, cast

from django.core.paginator import Paginator
from django.db import connection
from django.db.models import QuerySet
from django.utils.functional import cached_property

COUNT_LIMIT = 10_000
EXACT_SHARE = 0.02


class LargeTablePaginator(Paginator):
    count_is_estimate = False
    count_is_capped = False

    @cached_property
    def count(self) -> int:
        queryset = self.object_list
        query = getattr(queryset, "query", None)
        if query is None:
            return len(queryset)
        ordered = cast("QuerySet[Any]", queryset)  # it has a query
        queryset = ordered.order_by()
        total = table_estimate(queryset.model._meta.db_table)
        if total <= COUNT_LIMIT:
            return queryset.count()
        if not query.where:
            self.count_is_estimate = True
            return total
        estimate = planned_rows(queryset)
        if estimate > min(COUNT_LIMIT, total * EXACT_SHARE):
            # The first page's rows (the query the page runs anyway) tell a few from many.
            first = len(ordered.values("pk")[: self.per_page + 1])
            if first <= self.per_page:
                return first
            self.count_is_estimate = True
            return estimate
        counted = queryset.values("pk")[: COUNT_LIMIT + 1].count()
        if counted > COUNT_LIMIT:
            self.count_is_capped = True
            return COUNT_LIMIT
        return counted


def table_estimate(table: str) -> int:
    """The planner's idea of the table's size (pg_class.reltuples; -1 before any ANALYZE)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT reltuples::bigint FROM pg_class WHERE oid = %s::regclass", [table])
        row = cursor.fetchone()
    return max(int(row[0]), 0) if row else 0


def planned_rows(queryset: QuerySet[Any]) -> int:
    """The planner's estimate of the rows `queryset` returns (EXPLAIN, nothing run)."""
    plan = json.loads(queryset.order_by().explain(format="json"))
    return int(plan[0]["Plan"]["Plan Rows"])
