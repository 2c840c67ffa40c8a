"""Prepared PostgreSQL statements for the hot path of a real-time payment.

Django's cursors bind parameters on the client and the ORM compiles every query
anew, which costs as much Python as the rest of a payment request. Here a
statement is prepared once per connection and bound in binary, and rows become
model instances without a query compiler. Used where a statement runs on every
payment request; everything else stays on the ORM.
"""

from __future__ import annotations

import time
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
    if db.queries_logged:  # DEBUG, or CaptureQueriesContext: logged as Django's cursor does
        start = time.monotonic()
        try:
            return _run(db, sql, params)
        finally:
            db.queries_log.append(
                {"sql": f"{sql} -- {list(params)!r}", "time": f"{time.monotonic() - start:.3f}"}
            )
    return _run(db, sql, params)


def _run(db: BaseDatabaseWrapper, sql: str, params: Sequence[Any]) -> list[tuple]:
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


@cache
def _converters(model: type[models.Model]) -> tuple[tuple[int, models.Field], ...]:
    """(position, field) of each column whose value the ORM converts on reading (a JSON
    document, a sealed secret): the compiler applies `from_db_value`, `from_db` does not."""
    return tuple(
        (index, field)
        for index, field in enumerate(model._meta.concrete_fields)
        if hasattr(field, "from_db_value")
    )


def from_row(model: type[M], row: Sequence[Any]) -> M:
    """A model instance from a row selected with `columns(model)`, as the ORM makes it."""
    converters = _converters(model)
    if converters:
        values = list(row)
        for index, field in converters:
            values[index] = _converted(field, values[index])
        row = values
    return model.from_db(DEFAULT_DB_ALIAS, _attnames(model), row)


def _converted(field: models.Field, value: Any) -> Any:
    """A column's value as the ORM gives it: `from_db_value` applied where the field has one
    (not to jsonb, which comes decoded in binary where Django's own loader gives text)."""
    convert = getattr(field, "from_db_value", None)
    if value is None or convert is None:
        return value
    if isinstance(field, models.JSONField) and not isinstance(value, str):
        return value
    return convert(value, None, connection)


@cache
def _insert_sql(
    model: type[models.Model], on_conflict: str = ""
) -> tuple[str, tuple[models.Field, ...], bool]:
    """The INSERT of every column but an auto-increment key, with `on_conflict` ("" or
    " ON CONFLICT DO NOTHING"), returning a row when one is written (the key, if it is an
    auto-increment: the third item says so), and the fields in the values' order."""
    quote = connection.ops.quote_name
    fields = tuple(
        field
        for field in model._meta.concrete_fields
        if not (field.primary_key and isinstance(field, models.AutoField))
    )
    pk = model._meta.pk
    reads_key = isinstance(pk, models.AutoField)
    returning = quote(cast(str, pk.column)) if reads_key and pk is not None else "1"
    sql = (
        f"INSERT INTO {quote(model._meta.db_table)} "  # noqa: S608 - identifiers from model metadata, quoted; values are parameters
        f"({', '.join(quote(cast(str, field.column)) for field in fields)}) "
        f"VALUES ({', '.join(['%s'] * len(fields))}){on_conflict} RETURNING {returning}"
    )
    return sql, fields, reads_key


def insert(obj: M) -> M:
    """INSERT a new instance as `save()` would (defaults, `auto_now`), without the ORM's
    compiler; an auto-increment primary key is read back. Sends no signals."""
    _insert(obj, "")
    return mark_saved(obj)


def insert_unless_conflict(obj: models.Model) -> bool:
    """`insert`, except that a row breaking a unique constraint is not written (ON CONFLICT
    DO NOTHING, as `bulk_create(ignore_conflicts=True)`): whether it was."""
    if not _insert(obj, " ON CONFLICT DO NOTHING"):
        return False
    mark_saved(obj)
    return True


def _insert(obj: models.Model, on_conflict: str) -> bool:
    sql, fields, reads_key = _insert_sql(type(obj), on_conflict)
    values = [field.get_db_prep_save(field.pre_save(obj, True), connection) for field in fields]
    rows = execute(sql, values)
    if rows and reads_key:
        obj.pk = rows[0][0]
    return bool(rows)


@cache
def _by_key(
    model: type[models.Model], names: tuple[str, ...]
) -> tuple[list[models.Field], list[str], str, str]:
    """For a statement on one row by its key: the concrete fields of these names (a
    relation's reverse side is not one), their quoted columns, the quoted table and key."""
    meta = model._meta
    fields = [meta.get_field(name) for name in names]
    for field in fields:
        if not isinstance(field, models.Field) or not field.concrete:
            raise ValueError(f"{meta.label}.{field.name} is not a column")
    chosen = cast(list[models.Field], fields)
    quote = connection.ops.quote_name
    key = meta.pk
    return (
        chosen,
        [quote(cast(str, field.column)) for field in chosen],
        quote(meta.db_table),
        quote(cast(str, key.column)),
    )


def update(obj: models.Model, fields: Sequence[str]) -> int:
    """UPDATE the named fields of a saved instance by its key, as `save(update_fields=...)`
    would (`auto_now` fields among them set to now); the number of rows changed."""
    chosen, quoted, table, key = _by_key(type(obj), tuple(fields))
    values = [field.get_db_prep_save(field.pre_save(obj, False), connection) for field in chosen]
    assignments = ", ".join(f"{column} = %s" for column in quoted)
    sql = f"UPDATE {table} SET {assignments} WHERE {key} = %s RETURNING 1"  # noqa: S608 - identifiers from model metadata, quoted; values are parameters
    return len(execute(sql, [*values, obj.pk]))


def mark_saved(obj: M) -> M:
    """Tell the ORM that `obj` now has its row, as `save()` would."""
    obj._state.adding = False
    obj._state.db = connection.alias
    return obj


def refresh(obj: models.Model, fields: Sequence[str]) -> None:
    """Read the named fields of a saved instance again, as `refresh_from_db(fields=...)`."""
    chosen, quoted, table, key = _by_key(type(obj), tuple(fields))
    sql = f"SELECT {', '.join(quoted)} FROM {table} WHERE {key} = %s"  # noqa: S608 - identifiers from model metadata, quoted; values are parameters
    rows = execute(sql, [obj.pk])
    if not rows:
        raise obj.DoesNotExist(f"{obj._meta.label} {obj.pk} is gone")  # type: ignore[attr-defined]
    for field, value in zip(chosen, rows[0], strict=True):
        setattr(obj, field.attname, _converted(field, value))
