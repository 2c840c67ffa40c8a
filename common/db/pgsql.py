"""Prepared PostgreSQL statements for the hot path of a real-time payment.

Django's cursors bind parameters on the client and the ORM compiles every query
anew, which costs as much Python as the rest of a payment request. Here a
statement is prepared once per connection and bound in binary, and rows become
model instances without a query compiler. Used where a statement runs on every
payment request; everything else stays on the ORM.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache
from typing import Any, TypeVar, cast

import psycopg
from django.db import DEFAULT_DB_ALIAS, OperationalError, connection, connections, models
from django.db.backends.base.base import BaseDatabaseWrapper

M = TypeVar("M", bound=models.Model)
TUPLES_OK = psycopg.pq.ExecStatus.TUPLES_OK
IDLE = psycopg.pq.TransactionStatus.IDLE


def execute(sql: str, params: Sequence[Any] = ()) -> list[tuple]:
    """Run `sql` (placeholders `%s`) on Django's connection, inside its transaction if one
    is open, and return the rows. Errors are Django's (`IntegrityError`...), as for the ORM."""
    db = connections[DEFAULT_DB_ALIAS]  # once: each `connection.x` is a context-local look-up
    if _health_check_due(db) and sql.lstrip().startswith("SELECT") and "FOR UPDATE" not in sql:
        # A connection kept from an earlier request may have died with its server. Django
        # would send `SELECT 1` first, a round trip on every request; a read can instead
        # be the check itself and be sent again on a new connection if the old one failed.
        try:
            return _execute(db, sql, params)
        except OperationalError:
            if not db.connection.closed:
                raise
            db.close()
            return _execute(db, sql, params)
        finally:
            # Set by Django's BaseDatabaseWrapper.__init__; django-stubs lacks the attribute.
            db.health_check_done = True  # type: ignore[attr-defined]
    db.close_if_health_check_failed()
    return _execute(db, sql, params)


def _health_check_due(db: BaseDatabaseWrapper) -> bool:
    return (
        db.connection is not None
        and db.health_check_enabled  # type: ignore[attr-defined]  # not in django-stubs
        and not db.health_check_done  # type: ignore[attr-defined]  # not in django-stubs
        and not db.in_atomic_block
    )


def _execute(db: BaseDatabaseWrapper, sql: str, params: Sequence[Any]) -> list[tuple]:
    db.ensure_connection()
    conn = db.connection
    with db.wrap_database_errors, psycopg.Cursor(conn) as cursor:
        if db.in_atomic_block and conn.info.transaction_status == IDLE:
            # The transaction's first statement: psycopg sends BEGIN first and waits for
            # it; in a pipeline, BEGIN and the statement travel in one round trip.
            with conn.pipeline():
                cursor.execute(sql, params, prepare=True, binary=True)
        else:
            cursor.execute(sql, params, prepare=True, binary=True)
        result = cursor.pgresult  # not `description`: it builds a Column per column
        return cursor.fetchall() if result and result.status == TUPLES_OK else []


@cache
def columns(model: type[models.Model], table_alias: str = "") -> str:
    """The select list of every concrete field of `model`, in `from_row`'s order."""
    quote = connection.ops.quote_name
    prefix = f"{table_alias}." if table_alias else ""
    # A concrete field always has a column (the stubs type it `str | None` for every field).
    return ", ".join(
        prefix + quote(cast(str, field.column)) for field in model._meta.concrete_fields
    )


@cache
def _attnames(model: type[models.Model]) -> list[str]:
    return [field.attname for field in model._meta.concrete_fields]


def from_row(model: type[M], row: Sequence[Any]) -> M:
    """A model instance from a row selected with `columns(model)`, as the ORM makes it."""
    return model.from_db(DEFAULT_DB_ALIAS, _attnames(model), row)


@cache
def _insert_sql(model: type[models.Model]) -> tuple[str, tuple[models.Field, ...]]:
    quote = connection.ops.quote_name
    fields = tuple(
        field
        for field in model._meta.concrete_fields
        if not (field.primary_key and isinstance(field, models.AutoField))
    )
    sql = (
        f"INSERT INTO {quote(model._meta.db_table)} "  # noqa: S608 - identifiers from model metadata, quoted; values are parameters
        f"({', '.join(quote(cast(str, field.column)) for field in fields)}) "
        f"VALUES ({', '.join(['%s'] * len(fields))})"
    )
    pk = model._meta.pk
    if isinstance(pk, models.AutoField):
        sql += f" RETURNING {quote(cast(str, pk.column))}"
    return sql, fields


def insert(obj: M) -> M:
    """INSERT a new instance as `save()` would (defaults, `auto_now`), without the ORM's
    compiler; an auto-increment primary key is read back. Sends no signals."""
    sql, fields = _insert_sql(type(obj))
    values = [field.get_db_prep_save(field.pre_save(obj, True), connection) for field in fields]
    rows = execute(sql, values)
    if rows:
        obj.pk = rows[0][0]
    return mark_saved(obj)


def mark_saved(obj: M) -> M:
    """Tell the ORM that `obj` now has its row, as `save()` would."""
    obj._state.adding = False
    obj._state.db = connection.alias
    return obj
