"""Writing many rows without building a model instance for each (the bulk paths of
batch execution): one statement per call, its columns sent as binary arrays and
unnested.

Only plain column values pass through here; constraints and triggers of the
database apply exactly as for any other write.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, cast

import psycopg
from django.db import DEFAULT_DB_ALIAS, connection, connections, models

from common.db import pgsql


def _array_type(field: models.Field) -> str:
    db_type = (
        cast(models.ForeignKey, field).target_field.db_type(connection)
        if field.is_relation
        else field.db_type(connection)
    )
    assert db_type is not None  # a concrete column has a database type
    return db_type.split("(")[0].replace(" CHECK", "").strip() + "[]"


def _target(model: type[models.Model], columns: Sequence[str]) -> tuple[list[models.Field], str]:
    """The fields named by `columns`, and `table (column, ...)` to write them to. Plain
    columns only (see the module's docstring): concrete fields, each with a column."""
    fields = [cast(models.Field, model._meta.get_field(name)) for name in columns]
    quote = connection.ops.quote_name
    names = ", ".join(quote(cast(str, field.column)) for field in fields)
    return fields, f"{quote(model._meta.db_table)} ({names})"


def insert(
    model: type[models.Model],
    columns: Sequence[str],
    rows: Sequence[Sequence[Any]],
    *,
    returning: str = "",
) -> list[Any]:
    """INSERT `rows` (tuples in `columns` order, field names); returns the `returning` column."""
    if not rows:
        return []
    fields, target = _target(model, columns)
    quote = connection.ops.quote_name
    arrays = ", ".join(f"%b::{_array_type(field)}" for field in fields)
    sql = f"INSERT INTO {target} SELECT * FROM unnest({arrays})"  # noqa: S608 - identifiers from model metadata, quoted; values are parameters
    if returning:
        returning_field = cast(models.Field, model._meta.get_field(returning))
        sql += f" RETURNING {quote(cast(str, returning_field.column))}"
    return _execute_binary(
        sql, [list(column) for column in zip(*rows, strict=True)], fetch=bool(returning)
    )


def copy(model: type[models.Model], columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
    """COPY `rows` (tuples in `columns` order, field names) into the model's table, in the
    connection's transaction: for many rows at once, cheaper than any INSERT (psycopg
    formats each row in C; an INSERT of arrays dumps every value in Python)."""
    _, target = _target(model, columns)
    db = connections[DEFAULT_DB_ALIAS]
    db.ensure_connection()
    with db.wrap_database_errors, psycopg.Cursor(db.connection) as cursor:
        with cursor.copy(f"COPY {target} FROM STDIN") as stream:
            for row in rows:
                stream.write_row(row)


def _execute_binary(sql: str, params: list, *, fetch: bool = False) -> list[Any]:
    """Run on Django's connection (so in its transaction) with binary parameters: psycopg
    then sends arrays without quoting every element, which in text costs more than the
    INSERT itself. Django's own cursors bind on the client side, which cannot do this."""
    rows = pgsql.execute(sql, params)
    return [row[0] for row in rows] if fetch else []


def update(
    model: type[models.Model], columns: Sequence[str], rows: Sequence[Sequence[Any]]
) -> None:
    """UPDATE by primary key: each row is (pk, value of columns[0], value of columns[1], ...)."""
    if not rows:
        return
    quote = connection.ops.quote_name
    table = quote(model._meta.db_table)
    pk = model._meta.pk
    fields = [cast(models.Field, model._meta.get_field(name)) for name in columns]
    names = ["pk_", *[f"c{i}" for i in range(len(fields))]]
    arrays = ", ".join(f"%b::{_array_type(field)}" for field in [pk, *fields])
    sets = ", ".join(f"{quote(cast(str, f.column))} = v.c{i}" for i, f in enumerate(fields))
    _execute_binary(
        f"UPDATE {table} SET {sets} FROM unnest({arrays}) AS v({', '.join(names)}) "  # noqa: S608 - identifiers from model metadata, quoted; values are parameters
        f"WHERE {table}.{quote(cast(str, pk.column))} = v.pk_",
        [list(column) for column in zip(*rows, strict=True)],
    )
