"""Fast multi-row writes: COPY on PostgreSQL, bulk_create elsewhere.

Django's bulk_create builds a fresh multi-row INSERT for every call (a different statement for
every row count), which costs more than the rows themselves when a worker stores a description
of a few dozen tokens. COPY streams the rows in the same transaction instead. Callers pass rows
as tuples in `columns` order, with database values: JSON columns as Python lists/dicts (they are
serialised here), binary columns as bytes.
"""

import dataclasses
import functools
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from django.db import connection
from django.db.models import Field, Model, Q
from django.utils import timezone

# Rows per UPDATE ... FROM (VALUES ...): keeps the parameters well under PostgreSQL's 65,535.
ROWS_PER_UPDATE = 1000


def is_postgres() -> bool:
    return connection.vendor == "postgresql"


def _ids_reserve(model: type[Model], count: int) -> list[int]:
    """`count` primary keys from the table's sequence (PostgreSQL)."""
    if count == 0:
        return []
    table = model._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT nextval(pg_get_serial_sequence(%s, 'id')) FROM generate_series(1, %s)",
            [f'"{table}"', count],
        )
        return [row[0] for row in cursor.fetchall()]


@dataclass(frozen=True)
class _CopyPlan:
    """What a COPY of `columns` into a model's table needs, worked out once per process: the
    statement, the defaults of the columns left out (auto times filled per call), the JSON ones."""

    sql: str
    missing: tuple["Field[Any, Any]", ...]
    auto_time: tuple[bool, ...]
    json_at: tuple[int, ...]


@functools.cache
def _copy_plan(model: type[Model], columns: tuple[str, ...]) -> _CopyPlan:
    fields = {f.column: f for f in model._meta.concrete_fields}
    missing = tuple(f for c, f in fields.items() if c not in columns and not f.primary_key)
    column_sql = ", ".join(f'"{c}"' for c in (*columns, *(f.column for f in missing)))
    return _CopyPlan(
        sql=f'COPY "{model._meta.db_table}" ({column_sql}) FROM STDIN',
        missing=missing,
        auto_time=tuple(_is_auto_time(f) for f in missing),
        json_at=tuple(i for i, c in enumerate(columns) if fields[c].get_internal_type() == "JSONField"),
    )


def rows_insert(
    model: type[Model], columns: Sequence[str], rows: Sequence[tuple], *, return_ids: bool = False
) -> list[int]:
    """Insert `rows` into `model`'s table; columns the caller leaves out get their defaults.

    PostgreSQL: one COPY (with `return_ids`, the primary keys are taken from the table's
    sequence first, so child rows can be written with their foreign keys in the same go).
    Elsewhere: bulk_create of model instances. Returns the new primary keys in row order when
    `return_ids`, else [].
    """
    fields = _columns_of(model)
    unknown = [c for c in columns if c not in fields]
    if unknown:
        raise ValueError(f"{model.__name__} has no column(s) {', '.join(unknown)}")
    if not rows:
        return []
    if not is_postgres():
        attnames = [fields[c].attname for c in columns]
        created = model._default_manager.bulk_create(
            [model(**dict(zip(attnames, row, strict=True))) for row in rows], batch_size=500
        )
        return [obj.pk for obj in created] if return_ids else []
    ids = _ids_reserve(model, len(rows)) if return_ids else []
    if return_ids:
        pk_column = model._meta.pk.column
        assert pk_column is not None  # a concrete primary key has a column
        rows = [(pk, *row) for pk, row in zip(ids, rows, strict=True)]
        columns = [pk_column, *columns]
    plan = _copy_plan(model, tuple(columns))
    now = timezone.now()
    defaults = tuple(
        _copy_value(f, now if auto else f.get_default()) for f, auto in zip(plan.missing, plan.auto_time, strict=True)
    )
    json_at = plan.json_at
    with (
        # The COPY runs on psycopg's own cursor: its errors are raised as Django's, so a caller's
        # `except OperationalError` (a worker's retry when the database goes away) catches them.
        connection.wrap_database_errors,
        connection.cursor() as cursor,
        cursor.cursor.copy(plan.sql) as copy,
    ):
        for row in rows:
            values: Sequence[Any] = row
            if json_at:
                values = list(row)
                for i in json_at:
                    values[i] = json.dumps(values[i])
            copy.write_row((*values, *defaults))
    return ids


@functools.cache
def _columns_of(model: type[Model]) -> dict[str | None, "Field[Any, Any]"]:
    return {f.column: f for f in model._meta.concrete_fields}


def _is_auto_time(field: "Field[Any, Any]") -> bool:
    """auto_now / auto_now_add: bulk_create fills these in pre_save, so COPY must too."""
    return bool(getattr(field, "auto_now", False) or getattr(field, "auto_now_add", False))


def _copy_value(field: "Field[Any, Any]", value: Any) -> Any:
    if field.get_internal_type() == "JSONField":
        return json.dumps(value)
    return value


def _concrete_field(model: type[Model], name: str) -> "Field[Any, Any]":
    field = model._meta.get_field(name)
    assert isinstance(field, Field), f"{model.__name__}.{name} is not a column"
    return field


@dataclass(frozen=True)
class InsertForUpdated:
    """Rows for another table that go in only for the rows an UPDATE matched, in the same
    statement (rows_update's `then_insert`): each row is (the updated row's pk, *values in
    `columns` order), values as rows_insert takes them."""

    model: type[Model]
    columns: Sequence[str]
    rows: Sequence[tuple]


def rows_update(
    model: type[Model],
    *,
    match: Sequence[str],
    assign: Sequence[str],
    rows: Sequence[tuple],
    where: Q | None = None,
    then_insert: InsertForUpdated | None = None,
) -> list[int]:
    """Conditional UPDATE of many rows, each with its own values; returns the primary keys
    of the rows that matched.

    Each row is (pk, *match values, *assign values): the row with that pk is updated only if
    its `match` columns hold those values (None matches NULL, as in a filter) and it meets
    `where` (one condition for every row), and gets the `assign` values. Values are Python
    values for the fields named (attnames or columns). `then_insert`'s rows for the rows
    updated are inserted too (an audit row per change). PostgreSQL: UPDATE ... FROM (VALUES
    ...) RETURNING, with the insert as a second data-modifying CTE of the same statement, one
    statement per ROWS_PER_UPDATE rows. Elsewhere: one conditional UPDATE per row, then
    rows_insert.
    """
    if not rows:
        return []
    fields = _update_fields(model, tuple(match), tuple(assign))
    if is_postgres() and len(rows) > ROWS_PER_UPDATE:
        updated = []
        for start in range(0, len(rows), ROWS_PER_UPDATE):
            chunk = rows[start : start + ROWS_PER_UPDATE]
            following = None
            if then_insert is not None:
                keys = {row[0] for row in chunk}
                following = dataclasses.replace(then_insert, rows=[r for r in then_insert.rows if r[0] in keys])
            updated += rows_update(model, match=match, assign=assign, rows=chunk, where=where, then_insert=following)
        return updated
    if not is_postgres():
        updated = []
        for pk, *values in rows:
            conditions = dict(zip(match, values[: len(match)], strict=True))
            changes = dict(zip(assign, values[len(match) :], strict=True))
            if model._default_manager.filter(where or Q(), pk=pk, **conditions).update(**changes):
                updated.append(pk)
        if then_insert is not None:
            done = set(updated)
            rows_insert(then_insert.model, then_insert.columns, [r[1:] for r in then_insert.rows if r[0] in done])
        return updated
    names, row_sql, set_sql, where_sql = _update_sql(model, tuple(match), tuple(assign))
    params: list[Any] = []
    for row in rows:
        params.extend(f.get_db_prep_save(value, connection) for f, value in zip(fields, row, strict=True))
    if where is not None:
        # The condition as a subquery on the same table, so it may join or use Exists.
        where_rows, where_params = model._default_manager.filter(where).values("pk").query.sql_with_params()
        where_sql += f' AND t."{model._meta.pk.column}" IN ({where_rows})'
        params.extend(where_params)
    pk_column = model._meta.pk.column
    sql = (
        f'UPDATE "{model._meta.db_table}" AS t SET {set_sql} '
        f"FROM (VALUES {', '.join([row_sql] * len(rows))}) AS v({names}) "
        f'WHERE {where_sql} RETURNING t."{pk_column}"'
    )
    if then_insert is not None and then_insert.rows:
        sql = f'WITH moved AS ({sql}), added AS ({_insert_for_updated(then_insert, params)}) SELECT "{pk_column}" FROM moved'
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return [row[0] for row in cursor.fetchall()]


def _insert_for_updated(insert: InsertForUpdated, params: list[Any]) -> str:
    """INSERT ... SELECT of `insert`'s rows whose pk the CTE `moved` returned; adds its params."""
    columns, auto_time, row_sql, head, alias = _insert_sql(insert.model, tuple(insert.columns))
    given = len(insert.columns)
    now = timezone.now()
    defaults = [now if auto else f.get_default() for f, auto in zip(columns[given:], auto_time, strict=True)]
    for n, (key, *values) in enumerate(insert.rows):
        params += [key, n]
        params.extend(f.get_db_prep_save(v, connection) for f, v in zip(columns, [*values, *defaults], strict=True))
    return f"{head} FROM (VALUES {', '.join([row_sql] * len(insert.rows))}) {alias} {_INSERT_TAIL}"


_INSERT_TAIL = "WHERE a.k IN (SELECT * FROM moved) ORDER BY a.n"  # ids in the order of the rows given


@functools.cache
def _insert_sql(
    model: type[Model], given: tuple[str, ...]
) -> tuple[list["Field[Any, Any]"], tuple[bool, ...], str, str, str]:
    """_insert_for_updated's pieces, built once per process: the fields (given, then the rest
    with their defaults), which of the rest are auto times, one row's placeholders, the
    INSERT ... SELECT up to its FROM, the VALUES' alias."""
    plan = _copy_plan(model, given)
    fields = _columns_of(model)
    columns = [fields[c] for c in given] + list(plan.missing)
    names = ", ".join(f"c{i}" for i in range(len(columns)))
    row_sql = "(%s::bigint, %s::integer, " + ", ".join(f"%s::{f.cast_db_type(connection)}" for f in columns) + ")"
    column_sql = ", ".join(f'"{f.column}"' for f in columns)
    head = f'INSERT INTO "{model._meta.db_table}" ({column_sql}) SELECT {names}'
    return columns, plan.auto_time, row_sql, head, f"AS a(k, n, {names})"


@functools.cache
def _update_fields(model: type[Model], match: tuple[str, ...], assign: tuple[str, ...]) -> list["Field[Any, Any]"]:
    return [model._meta.pk, *(_concrete_field(model, name) for name in (*match, *assign))]


@functools.cache
def _update_sql(model: type[Model], match: tuple[str, ...], assign: tuple[str, ...]) -> tuple[str, str, str, str]:
    """rows_update's statement pieces (PostgreSQL), built once per process: the VALUES column
    names, one row's placeholders with their casts, the SET and the match."""
    fields = _update_fields(model, match, assign)
    names = [f"v{i}" for i in range(len(fields))]
    row_sql = "(" + ", ".join(f"%s::{f.cast_db_type(connection)}" for f in fields) + ")"
    set_sql = ", ".join(
        f'"{f.column}" = v.{n}' for f, n in zip(fields[1 + len(match) :], names[1 + len(match) :], strict=True)
    )
    # "=" where the column cannot be NULL: IS NOT DISTINCT FROM cannot use an index, so matching
    # the primary key with it made every UPDATE a sequential scan of the whole table.
    where_sql = " AND ".join(
        f't."{f.column}" {"IS NOT DISTINCT FROM" if f.null else "="} v.{n}'
        for f, n in zip(fields[: 1 + len(match)], names[: 1 + len(match)], strict=True)
    )
    return ", ".join(names), row_sql, set_sql, where_sql
