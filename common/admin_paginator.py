"""An admin paginator for tables of millions of rows: it never counts them all.

Unfiltered, it takes the planner's row estimate. Filtered, it asks the planner how
many rows the filters leave: when that is more than COUNT_LIMIT it says "about N"
(unless the first page shows that there are in fact few); otherwise it counts, at
most COUNT_LIMIT + 1 rows, and says "more than COUNT_LIMIT" past that.
"""

from __future__ import annotations

import json
from typing import Any, cast

from django.core.paginator import Paginator
from django.db import connection
from django.db.models import QuerySet
from django.utils.functional import cached_property

COUNT_LIMIT = 10_000


class LargeTablePaginator(Paginator):
    count_is_estimate = False
    count_is_capped = False

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
                self.count_is_estimate = True
                return int(row[0])
        else:
            estimate = planned_rows(queryset)
            if estimate > COUNT_LIMIT:
                # The first page's rows (the query the page runs anyway) tell a few from many.
                first = len(queryset.values("pk")[: self.per_page + 1])
                if first <= self.per_page:
                    return first
                self.count_is_estimate = True
                return estimate
        counted = queryset.values("pk")[: COUNT_LIMIT + 1].count()
        if counted > COUNT_LIMIT:
            self.count_is_capped = True
            return COUNT_LIMIT
        return counted


def planned_rows(queryset: QuerySet[Any]) -> int:
    """The planner's estimate of the rows `queryset` returns (EXPLAIN, nothing run)."""
    plan = json.loads(queryset.order_by().explain(format="json"))
    return int(plan[0]["Plan"]["Plan Rows"])
