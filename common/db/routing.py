"""Where a query goes when a standby is configured (DATABASE_REPLICA_URL): writes and
every read that decides about money to `default` (the primary); a read that may be a
little late goes to `replica` only where its caller asks, through `replica_alias()`."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS

REPLICA = "replica"


def replica_alias() -> str:
    """`replica` when one is configured, else `default`: for the back office's search and
    the home page's figures, which may be as late as the standby (docs/operations.md)."""
    return REPLICA if REPLICA in settings.DATABASES else DEFAULT_DB_ALIAS


class PrimaryWritesRouter:
    """No implicit read from a standby; no write, migration or relation refused for
    being on another alias than its instance (a row read from the standby is saved on
    the primary: a standby refuses writes)."""

    def db_for_read(self, model: type, **hints: Any) -> str | None:
        return None  # the instance's own alias, else `default`

    def db_for_write(self, model: type, **hints: Any) -> str:
        return DEFAULT_DB_ALIAS

    def allow_relation(self, obj1: Any, obj2: Any, **hints: Any) -> bool:
        return True  # the same data on both aliases

    def allow_migrate(self, db: str, app_label: str, **hints: Any) -> bool:
        return db == DEFAULT_DB_ALIAS
