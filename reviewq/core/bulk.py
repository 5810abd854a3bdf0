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
import os
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from django.db import connection, transaction
from django.db.models import Field, Model, Q
from django.utils import timezone

# Rows per UPDATE ... FROM (VALUES ...): keeps the parameters well under PostgreSQL's 65,535.
ROWS_PER_UPDATE = 1000
# rows_update's then_insert rows of one table that go in with the UPDATE (one round trip); more
# go by COPY after it, which costs two round trips but parses its rows faster than JSON.
ROWS_IN_STATEMENT = 1000


def is_postgres() -> bool:
    return connection.vendor == "postgresql"


# Ids drawn from a table's sequence ahead of need, per process: storing a result reserved its
# sentences' ids with a round trip of its own. Ids never used are gaps, as a rolled-back insert leaves.
IDS_AHEAD = 1000
_ids_ahead: dict[tuple[int, str, str], list[int]] = {}
_ids_ahead_lock = threading.Lock()


def ids_reserve(model: type[Model], count: int) -> list[int]:
    """`count` new primary keys of `model`'s table, for rows written later with their ids (so
    child rows can point at them in the same go). PostgreSQL: from the table's sequence,
    IDS_AHEAD more at a time, kept for this process's next calls. SQLite: the table's
    AUTOINCREMENT counter moved past them."""
    if count == 0:
        return []
    table = model._meta.db_table
    if is_postgres():
        # The process id: a forked worker must not hand out its parent's ids.
        key = (os.getpid(), str(connection.settings_dict["NAME"]), table)
        with _ids_ahead_lock:
            ahead = _ids_ahead.setdefault(key, [])
            if len(ahead) < count:
                with connection.cursor() as cursor:
                    cursor.execute(
                        "SELECT nextval(pg_get_serial_sequence(%s, 'id')) FROM generate_series(1, %s)",
                        [f'"{table}"', count - len(ahead) + IDS_AHEAD],
                    )
                    ahead.extend(row[0] for row in cursor.fetchall())
            ids = ahead[:count]
            del ahead[:count]
        return ids
    with connection.cursor() as cursor, transaction.atomic():  # SQLite: the write lock held meanwhile
        cursor.execute("UPDATE sqlite_sequence SET seq = seq + %s WHERE name = %s RETURNING seq", [count, table])
        row = cursor.fetchone()
        if row is None:  # the table never had a row: no counter yet
            cursor.execute(f'SELECT COALESCE(MAX("id"), 0) + %s FROM "{table}"', [count])
            row = cursor.fetchone()
            cursor.execute("INSERT INTO sqlite_sequence (name, seq) VALUES (%s, %s)", [table, row[0]])
    return list(range(row[0] - count + 1, row[0] + 1))


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
    ids = ids_reserve(model, len(rows)) if return_ids else []
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
    statement (rows_update's `then_insert`): rows in `columns` order, values as rows_insert
    takes them; the column `key` holds the primary key of the updated row each belongs to."""

    model: type[Model]
    columns: Sequence[str]
    rows: Sequence[tuple]
    key: str


def rows_update(
    model: type[Model],
    *,
    match: Sequence[str],
    assign: Sequence[str],
    rows: Sequence[tuple],
    where: Q | None = None,
    then_insert: Sequence[InsertForUpdated] = (),
) -> list[int]:
    """Conditional UPDATE of many rows, each with its own values; returns the primary keys
    of the rows that matched.

    Each row is (pk, *match values, *assign values): the row with that pk is updated only if
    its `match` columns hold those values (None matches NULL, as in a filter) and it meets
    `where` (one condition for every row), and gets the `assign` values. Values are Python
    values for the fields named (attnames or columns). `then_insert`'s rows for the rows
    updated are inserted too (an audit row per change, a stored result's sentences and
    tokens). PostgreSQL: UPDATE ... FROM (VALUES ...) RETURNING, each insert of up to
    ROWS_IN_STATEMENT rows a further data-modifying CTE of the same statement (its rows one
    JSON parameter), larger ones a COPY after it; one statement per ROWS_PER_UPDATE rows.
    Elsewhere: one conditional UPDATE per row, then rows_insert.
    """
    if not rows:
        return []
    if not is_postgres() or len(rows) > ROWS_PER_UPDATE or any(len(i.rows) > ROWS_IN_STATEMENT for i in then_insert):
        # More than one statement: one transaction (callers storing one result open none).
        with transaction.atomic(savepoint=False):
            return _rows_update(model, match=match, assign=assign, rows=rows, where=where, then_insert=then_insert)
    return _rows_update(model, match=match, assign=assign, rows=rows, where=where, then_insert=then_insert)


def _rows_update(
    model: type[Model],
    *,
    match: Sequence[str],
    assign: Sequence[str],
    rows: Sequence[tuple],
    where: Q | None,
    then_insert: Sequence[InsertForUpdated],
) -> list[int]:
    fields = _update_fields(model, tuple(match), tuple(assign))
    if is_postgres() and len(rows) > ROWS_PER_UPDATE:
        updated = []
        for start in range(0, len(rows), ROWS_PER_UPDATE):
            chunk = rows[start : start + ROWS_PER_UPDATE]
            keys = {row[0] for row in chunk}
            following = [
                dataclasses.replace(insert, rows=[r for r in insert.rows if r[_key_at(insert)] in keys])
                for insert in then_insert
            ]
            updated += rows_update(model, match=match, assign=assign, rows=chunk, where=where, then_insert=following)
        return updated
    if not is_postgres():
        updated = []
        for pk, *values in rows:
            conditions = dict(zip(match, values[: len(match)], strict=True))
            changes = dict(zip(assign, values[len(match) :], strict=True))
            if model._default_manager.filter(where or Q(), pk=pk, **conditions).update(**changes):
                updated.append(pk)
        done = set(updated)
        for insert in then_insert:
            at = _key_at(insert)
            rows_insert(insert.model, insert.columns, [r for r in insert.rows if r[at] in done])
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
    inserts = [insert for insert in then_insert if 0 < len(insert.rows) <= ROWS_IN_STATEMENT]
    if inserts:
        added = ", ".join(f"added{i} AS ({_insert_for_updated(insert, params)})" for i, insert in enumerate(inserts))
        sql = f'WITH moved AS ({sql}), {added} SELECT "{pk_column}" FROM moved'
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        updated = [row[0] for row in cursor.fetchall()]
    done = set(updated)
    for insert in then_insert:
        if len(insert.rows) > ROWS_IN_STATEMENT:
            at = _key_at(insert)
            rows_insert(insert.model, insert.columns, [r for r in insert.rows if r[at] in done])
    return updated


def _key_at(insert: InsertForUpdated) -> int:
    return list(insert.columns).index(insert.key)


def _insert_for_updated(insert: InsertForUpdated, params: list[Any]) -> str:
    """INSERT ... SELECT of `insert`'s rows whose key the CTE `moved` returned, in row order (so
    new ids follow it); adds its params: the defaults of the columns left out, then the rows as
    one JSON array (cheaper to encode and send than a parameter per value; `jsonb`, whose
    fields are read without parsing the text again: half the time of `json` for a stored
    result's 40 tokens, EXPLAIN ANALYZE)."""
    plan = _json_insert_plan(insert.model, tuple(insert.columns), insert.key)
    now = timezone.now()
    params.extend(
        f.get_db_prep_save(now if auto else f.get_default(), connection)
        for f, auto in zip(plan.missing, plan.auto_time, strict=True)
    )
    encoders = plan.encoders
    if encoders:
        rows: Sequence[Any] = [_json_row(row, encoders) for row in insert.rows]
    else:
        rows = insert.rows
    params.append(json.dumps(rows))
    return plan.sql


def _json_row(row: tuple, encoders: tuple[tuple[int, Any], ...]) -> list:
    values = list(row)
    for i, encode in encoders:
        if values[i] is not None:
            values[i] = encode(values[i])
    return values


@dataclass(frozen=True)
class _JsonInsertPlan:
    sql: str
    missing: tuple["Field[Any, Any]", ...]
    auto_time: tuple[bool, ...]
    encoders: tuple[tuple[int, Any], ...]  # (column index, value -> JSON value) where JSON has no exact type


def _json_cell(field: "Field[Any, Any]", i: int) -> tuple[str, Any]:
    """The SQL that reads column `i` of a JSON row `a.r` as `field`'s value, and the encoder of
    its Python value (None: JSON carries it as it is). Floats go as text (repr), so -0.0, inf
    and nan arrive as COPY writes them; text columns are not cast, so an over-long value is
    refused as COPY refuses it, not cut to length."""
    kind = field.get_internal_type()
    if kind == "JSONField":
        return f"a.r->{i}", None
    if kind == "BinaryField":
        return f"decode(a.r->>{i}, 'hex')", bytes.hex
    if kind in ("CharField", "TextField"):
        return f"a.r->>{i}", None
    if kind == "FloatField":
        return f"(a.r->>{i})::double precision", _float_text
    if kind in ("DateTimeField", "DateField", "TimeField"):
        return f"(a.r->>{i})::{field.db_type(connection)}", _isoformat
    if kind in _PLAIN_JSON_KINDS:
        return f"(a.r->>{i})::{field.db_type(connection)}", None
    raise TypeError(f"rows_update's then_insert does not take {kind} columns ({field})")


# Column kinds whose Python values JSON carries exactly (booleans, integers, keys).
_PLAIN_JSON_KINDS = frozenset(
    {
        "BooleanField",
        "IntegerField",
        "BigIntegerField",
        "SmallIntegerField",
        "PositiveIntegerField",
        "PositiveBigIntegerField",
        "PositiveSmallIntegerField",
        "AutoField",
        "BigAutoField",
        "ForeignKey",
        "OneToOneField",
    }
)


def _float_text(value: Any) -> str:
    return float.__repr__(float(value))  # numpy's floats too (their repr names the type)


def _isoformat(value: Any) -> str:
    return str(value.isoformat())


@functools.cache
def _json_insert_plan(model: type[Model], given: tuple[str, ...], key: str) -> _JsonInsertPlan:
    """_insert_for_updated's statement, built once per process: the given columns read from
    each JSON row, the rest from one parameter each (their defaults)."""
    plan = _copy_plan(model, given)
    fields = _columns_of(model)
    cells = [_json_cell(fields[c], i) for i, c in enumerate(given)]
    defaults = [f"%s::{f.cast_db_type(connection)}" for f in plan.missing]
    column_sql = ", ".join(f'"{c}"' for c in (*given, *(f.column for f in plan.missing)))
    key_sql = f"(a.r->>{given.index(key)})::{fields[key].db_type(connection)}"
    sql = (
        f'INSERT INTO "{model._meta.db_table}" ({column_sql}) '
        f"SELECT {', '.join([sql for sql, _ in cells] + defaults)} "
        f"FROM jsonb_array_elements(%s::jsonb) WITH ORDINALITY AS a(r, n) "
        f"WHERE {key_sql} IN (SELECT * FROM moved) ORDER BY a.n"
    )
    encoders = tuple((i, encode) for i, (_, encode) in enumerate(cells) if encode is not None)
    return _JsonInsertPlan(sql=sql, missing=plan.missing, auto_time=plan.auto_time, encoders=encoders)


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
