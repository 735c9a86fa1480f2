"""Many rows written to or read from one table, as cheaply as the backend allows.

On PostgreSQL new rows go in one ``INSERT … SELECT * FROM unnest(arrays)``: one statement a
table, one array a column sent in binary, its text the same for any number of rows (psycopg
prepares it once). SQLAlchemy's ``executemany`` of an INSERT cost ~25 µs a row in the client;
this costs what binary COPY did (~20 µs a row of the inbound messages, their encryption
included), in one round trip instead of COPY's two, and unlike COPY it can share a
:func:`pipelined` round trip with the batch's other writes. Values are bound by the columns'
own types first (aware UTC instants, sealed personal data, JSON), exactly as an INSERT would
bind them. Changed rows go in one ``UPDATE … FROM unnest(arrays)``, and a batch's reads can
skip SQLAlchemy's result rows (:func:`plain_rows`). Elsewhere (SQLite) the statements are
SQLAlchemy's.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from functools import lru_cache
from typing import Any, NamedTuple

from psycopg.types.array import ListBinaryDumper
from sqlalchemy import Table, bindparam, insert, update
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session
from sqlalchemy.sql import Executable
from sqlalchemy.sql.schema import ScalarElementColumnDefault

Binder = Callable[[Any], Any] | None


def insert_rows(session: Session, table: Table, rows: Sequence[dict[str, Any]]) -> None:
    """INSERT ``rows`` (dicts with the same keys) into ``table`` in the session's transaction."""
    if not rows:
        return
    dialect = session.get_bind().dialect
    if dialect.name != "postgresql" or not _same_keys(rows):
        session.execute(insert(table), list(rows))
        return
    names, binders, defaults = _plan(table, tuple(rows[0]), dialect)
    if defaults is None:  # a missing column with a computed default: SQLAlchemy knows how
        session.execute(insert(table), list(rows))
        return
    session.flush()  # pending ORM changes first, as an INSERT through the session would
    _insert_arrays(session, table, rows, names, binders, defaults)


def insert_new_rows(
    session: Session,
    table: Table,
    rows: Sequence[dict[str, Any]],
    *,
    key: tuple[str, ...],
    returning: tuple[str, ...],
    unless: tuple[str, ...] = (),
) -> list[tuple[Any, ...]]:
    """PostgreSQL: INSERT those of ``rows`` (dicts with the same keys) whose ``key`` (a unique
    constraint's columns) no row holds yet and (with ``unless``) whose values in those
    columns no committed row has, in one statement; return the ``returning`` columns of each
    row inserted, in no set order. A concurrent transaction inserting the same key is waited
    for, not failed on: no savepoint is needed to survive it."""
    if not rows:
        return []
    dialect = session.get_bind().dialect
    if dialect.name != "postgresql" or not _same_keys(rows):
        raise ValueError("insert_new_rows needs PostgreSQL and rows with the same keys")
    names, binders, defaults = _plan(table, tuple(rows[0]), dialect)
    if defaults is None:
        raise ValueError(f"{table.name}: a missing column's default must be computed")
    session.flush()
    return _insert_arrays(session, table, rows, names, binders, defaults, key, returning, unless)


def _insert_arrays(
    session: Session,
    table: Table,
    rows: Sequence[dict[str, Any]],
    names: tuple[str, ...],
    binders: Sequence[Binder],
    defaults: Sequence[Any],
    key: tuple[str, ...] = (),
    returning: tuple[str, ...] = (),
    unless: tuple[str, ...] = (),
) -> list[tuple[Any, ...]]:
    """The INSERT of :func:`insert_rows` and :func:`insert_new_rows` (:func:`_plan`'s
    ``names``, ``binders`` and ``defaults``); the ``returning`` columns of the new rows."""
    types = _column_types(session, table.name, names)
    values = _as_arrays(rows, tuple(rows[0]), binders, defaults)
    constant = _constant(values, varying=0)
    statement = _insert_statement(
        table.name, names, tuple(t.sql for t in types), constant, key, returning, unless
    )
    dialect = session.get_bind().dialect
    with _raised_as_sqlalchemy(dialect, statement), _cursor(session) as cursor:
        cursor.execute(statement, _params(session, types, values, constant))
        return cursor.fetchall() if returning else []


def _as_arrays(
    rows: Sequence[dict[str, Any]],
    names: Sequence[str],
    binders: Sequence[Binder],
    constants: Sequence[Any] = (),
) -> list[list[Any]]:
    """One list a column: ``names``' values, bound, then ``constants``, each repeated."""
    return [
        [row[name] for row in rows] if bind is None else [bind(row[name]) for row in rows]
        for name, bind in zip(names, binders, strict=True)
    ] + [[constant] * len(rows) for constant in constants]


def _constant(lists: list[list[Any]], *, varying: int) -> tuple[bool, ...]:
    """Which columns hold the same value in every row: sent once, not as an array (of a
    batch's ~90 values a notice, some 40 are the same for all: the direction, the state,
    the source…). Column ``varying`` stays an array: the rows are counted from it."""
    return tuple(
        i != varying and values.count(values[0]) == len(values) for i, values in enumerate(lists)
    )


def _params(
    session: Session,
    types: Sequence[_ColumnType],
    lists: list[list[Any]],
    constant: Sequence[bool],
) -> list[Any]:
    """The statement's parameters: the constant columns' values, then each other column's
    list as its array type, so psycopg dumps it with that type's dumper. A plain list has
    its elements scanned twice to pick one (their types, any None, the largest int) and a
    dumper made for it: ~20 µs of CPU a list, some seventy lists a batch."""
    connection = session.connection()
    registered: set[int] = connection.info.setdefault("bulk_array_dumpers", set())
    adapters = connection.connection.driver_connection.adapters  # type: ignore[union-attr]
    scalars, arrays = [], []
    for column, values, same in zip(types, lists, constant, strict=True):
        if same:
            scalars.append(values[0])
            continue
        array, dumper = _array_type(column.element, column.array)
        if column.element not in registered:
            adapters.register_dumper(array, dumper)
            registered.add(column.element)
        arrays.append(array(values))
    return scalars + arrays


@lru_cache(maxsize=64)
def _array_type(element: int, array: int) -> tuple[type[list[Any]], type[ListBinaryDumper]]:
    """A list class for arrays of type oid ``element``, and its binary dumper (as psycopg
    makes one for an array type it is told about: ``oid`` and ``element_oid`` fixed)."""
    values = type(f"_Array{element}", (list,), {"__slots__": ()})
    dumper = type(
        f"_Array{element}Dumper", (ListBinaryDumper,), {"oid": array, "element_oid": element}
    )
    return values, dumper


@contextmanager
def pipelined(session: Session) -> Iterator[None]:
    """PostgreSQL: this module's statements inside the block go to the server together and
    are answered together (psycopg's pipeline mode: one round trip, ~65 µs of client CPU
    each on these machines, for all the writes of a batch); a failure is raised as the block
    ends. Pending ORM changes are flushed first: the ORM's statements must not run inside.
    Elsewhere, nothing changes."""
    dialect = session.get_bind().dialect
    if dialect.name != "postgresql":
        yield
        return
    session.flush()
    connection: Any = session.connection().connection.driver_connection
    with _raised_as_sqlalchemy(dialect, "(a pipeline of bulk writes)"), connection.pipeline():
        yield


def update_rows(
    session: Session, table: Table, rows: Sequence[dict[str, Any]], *, key: str = "id"
) -> None:
    """UPDATE each of ``rows`` (dicts with the same keys, ``key`` among them) by its ``key``;
    of rows with the same ``key``, the last wins."""
    if not rows:
        return
    dialect = session.get_bind().dialect
    columns = tuple(name for name in rows[0] if name != key)
    distinct = len({row[key] for row in rows}) == len(rows)  # one array row a table row
    if dialect.name != "postgresql" or not distinct or not _same_keys(rows):
        by_key = (
            update(table)
            .where(table.c[key] == bindparam("_key"))
            .values({name: bindparam(name) for name in columns})
        )
        session.execute(by_key, [{**row, "_key": row[key]} for row in rows])
        return
    # one statement, the values as one array a column: psycopg's executemany (a pipeline of
    # one prepared statement a row) cost ~15 µs a row more, SQLAlchemy's ~30. The arrays go
    # in binary: psycopg's text form escapes every element in Python (a regex each), ~5×
    # the CPU (six arrays of 64: 740 µs against 140)
    _, binders, _ = _plan(table, columns, dialect)
    session.flush()
    names = (*columns, key)
    types = _column_types(session, table.name, names)
    values = [*_as_arrays(rows, columns, binders), [row[key] for row in rows]]
    constant = _constant(values, varying=len(columns))
    statement = _update_statement(table.name, names, tuple(t.sql for t in types), constant)
    with _raised_as_sqlalchemy(dialect, statement), _cursor(session) as cursor:
        cursor.execute(statement, _params(session, types, values, constant))


def plain_rows(
    session: Session, statement: Executable, params: dict[str, Any]
) -> Sequence[tuple[Any, ...]]:
    """A SELECT's rows as plain tuples; for a statement built once, with every parameter in
    ``params``. On PostgreSQL they are read through the driver: the values are psycopg's,
    not processed by the columns' types (callers convert what needs it), and SQLAlchemy's
    result rows are skipped (~5 µs a row: 320 agency events, 2.2 ms against 0.7)."""
    dialect = session.get_bind().dialect
    if dialect.name != "postgresql":
        return [tuple(row) for row in session.execute(statement, params)]
    session.flush()  # pending ORM changes first, as a query through the session would
    sql, names = _select_text(statement, dialect)
    if not names <= params.keys():  # a value in the statement would be bound unprocessed
        raise TypeError(f"plain_rows needs every parameter: {sorted(names - params.keys())}")
    with _raised_as_sqlalchemy(dialect, sql), _cursor(session) as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


@lru_cache(maxsize=64)
def _select_text(statement: Executable, dialect: Dialect) -> tuple[str, frozenset[str]]:
    """The statement's text with binary placeholders (its lists are cheaper to send so, as
    in :func:`update_rows`), and its parameters' names."""
    compiled = statement.compile(dialect=dialect)  # type: ignore[attr-defined]
    return _PLACEHOLDER.sub(r"%(\1)b", str(compiled)), frozenset(compiled.binds)


#: psycopg's named placeholder (a literal % is doubled: %%(x)s is text, not a placeholder)
_PLACEHOLDER = re.compile(r"(?<!%)%\((\w+)\)s")


def insert_linked(
    session: Session,
    parent: Table,
    parents: Sequence[dict[str, Any]],
    child: Table,
    children: Sequence[dict[str, Any]],
    *,
    by: str,
    to: str,
) -> None:
    """PostgreSQL: INSERT ``parents`` and ``children`` (each list dicts with the same keys)
    in one statement, each child linked to its parent: a child names it by the value of the
    parent's unique column ``by`` (under that key, not a column of ``child``) and gets the
    new parent's serial ``id`` in column ``to``. One statement where taking the keys from the
    sequence first cost a round trip of its own; a child whose parent is not among
    ``parents`` is refused before anything is sent (the join would drop it)."""
    unknown = {row[by] for row in children} - {row[by] for row in parents}
    if unknown:
        raise ValueError(f"{child.name}: no {parent.name} row with {by} {sorted(unknown)[0]!r}")
    if not children:
        insert_rows(session, parent, parents)
        return
    dialect = session.get_bind().dialect
    if dialect.name != "postgresql" or not (_same_keys(parents) and _same_keys(children)):
        raise ValueError("insert_linked needs PostgreSQL and rows with the same keys")
    given = tuple(name for name in children[0] if name != by)
    p_names, p_binders, p_defaults = _plan(parent, tuple(parents[0]), dialect)
    c_names, c_binders, c_defaults = _plan(child, given, dialect)
    if p_defaults is None or c_defaults is None:
        raise ValueError(f"{parent.name}, {child.name}: a default must be computed")
    session.flush()
    p_types = _column_types(session, parent.name, p_names)
    p_values = _as_arrays(parents, tuple(parents[0]), p_binders, p_defaults)
    p_constant = _constant(p_values, varying=0)
    # the link goes last, always an array: the children are counted from it
    c_types = (
        *_column_types(session, child.name, c_names),
        *_column_types(session, parent.name, (by,)),
    )
    c_values = [*_as_arrays(children, given, c_binders, c_defaults), [row[by] for row in children]]
    c_constant = _constant(c_values, varying=len(c_values) - 1)
    statement = _linked_statement(
        _Shape(parent.name, p_names, tuple(t.sql for t in p_types), p_constant),
        _Shape(child.name, (*c_names, by), tuple(t.sql for t in c_types), c_constant),
        by,
        to,
    )
    params = _params(session, p_types, p_values, p_constant)
    params += _params(session, c_types, c_values, c_constant)
    with _raised_as_sqlalchemy(dialect, statement), _cursor(session) as cursor:
        cursor.execute(statement, params)


class _Shape(NamedTuple):
    """What an array INSERT's text is made of (:func:`_insert_statement`'s first arguments)."""

    table: str
    names: tuple[str, ...]
    types: tuple[str, ...]  # SQL types, without modifiers
    constant: tuple[bool, ...]  # sent as one value, not an array


@lru_cache(maxsize=64)
def _linked_statement(parents: _Shape, children: _Shape, by: str, to: str) -> str:
    """The parents' INSERT (:func:`_insert_statement`), then the children's, joined to the
    new parents by ``by`` (the last of the children's names: matched, not inserted)."""
    child, names, types, constant = children
    columns = ", ".join((*names[:-1], to))
    values = ", ".join((*_values(names[:-1], types[:-1], constant[:-1]), "parent.id"))
    return (
        f"WITH parent AS ({_insert_statement(*parents)} RETURNING id, {by})"
        f" INSERT INTO {child} ({columns}) SELECT {values}"
        f" FROM {_unnest(names, types, constant)} JOIN parent ON parent.{by} = v.{by}"
    )


@contextmanager
def _raised_as_sqlalchemy(dialect: Dialect, statement: str) -> Iterator[None]:
    """The driver's errors as SQLAlchemy raises them (IntegrityError…): callers catch those."""
    try:
        yield
    except dialect.loaded_dbapi.Error as exc:
        raise DBAPIError.instance(statement, None, exc, dialect.loaded_dbapi.Error) from exc


def _same_keys(rows: Sequence[dict[str, Any]]) -> bool:
    keys = rows[0].keys()
    return all(row.keys() == keys for row in rows)


def _cursor(session: Session) -> Any:
    return session.connection().connection.driver_connection.cursor()  # type: ignore[union-attr]


@lru_cache(maxsize=64)
def _update_statement(
    table: str, names: tuple[str, ...], types: tuple[str, ...], constant: tuple[bool, ...]
) -> str:
    """UPDATE by the last of ``names`` (the key), from one array of each column's values
    (one value for each ``constant`` one)."""
    *columns, key = names
    values = _values(names, types, constant)[:-1]  # the key is matched, not set
    assignments = ", ".join(f"{n} = {value}" for n, value in zip(columns, values, strict=True))
    return (
        f"UPDATE {table} SET {assignments} FROM {_unnest(names, types, constant)}"
        f" WHERE {table}.{key} = v.{key}"
    )


@lru_cache(maxsize=64)
def _insert_statement(
    table: str,
    names: tuple[str, ...],
    types: tuple[str, ...],
    constant: tuple[bool, ...],
    key: tuple[str, ...] = (),
    returning: tuple[str, ...] = (),
    unless: tuple[str, ...] = (),
) -> str:
    """INSERT of one array of each of ``names``' values (one value for each ``constant``
    one); with ``key``, none whose key is taken, with ``unless``, none whose values in those
    columns a stored row has, and the new rows' ``returning`` columns."""
    values = ", ".join(_values(names, types, constant))
    rows = f"SELECT {values} FROM {_unnest(names, types, constant)}"
    if unless:
        same = " AND ".join(f"stored.{name} = r.{name}" for name in unless)
        rows = (
            f"SELECT * FROM ({rows}) AS r({', '.join(names)})"
            f" WHERE NOT EXISTS (SELECT 1 FROM {table} AS stored WHERE {same})"
        )
    statement = f"INSERT INTO {table} ({', '.join(names)}) {rows}"
    if key:
        statement += f" ON CONFLICT ({', '.join(key)}) DO NOTHING"
    if returning:
        statement += f" RETURNING {', '.join(returning)}"
    return statement


def _values(names: Sequence[str], types: Sequence[str], constant: Sequence[bool]) -> list[str]:
    """Each column's value in a row: its array's element, or the one value sent for it."""
    return [
        f"%b::{sql_type}" if same else f"v.{name}"
        for name, sql_type, same in zip(names, types, constant, strict=True)
    ]


def _unnest(names: Sequence[str], types: Sequence[str], constant: Sequence[bool]) -> str:
    """The rows of the arrays (the columns that are not constant), as ``v``."""
    varying = [(n, t) for n, t, same in zip(names, types, constant, strict=True) if not same]
    arrays = ", ".join(f"%b::{sql_type}[]" for _, sql_type in varying)
    return f"unnest({arrays}) AS v({', '.join(name for name, _ in varying)})"


class _ColumnType(NamedTuple):
    sql: str  # without its modifier: the statement's cast
    element: int  # the type's oid
    array: int  # the oid of its array type


def _column_types(session: Session, table: str, names: tuple[str, ...]) -> tuple[_ColumnType, ...]:
    """Each of ``names``' type, from the catalog, once per connection. The SQL type has no
    modifier (``character varying``, not ``(64)``): an explicit cast to that would cut a
    longer value silently, where the column refuses it."""
    cache = session.connection().info.setdefault("bulk_column_types", {})
    if table not in cache:  # through the driver: it may be read inside a pipeline
        with _cursor(session) as cursor:
            cursor.execute(_CATALOG, [table])
            cache[table] = {name: _ColumnType(*rest) for name, *rest in cursor.fetchall()}
    return tuple(cache[table][name] for name in names)


_CATALOG = (
    "SELECT a.attname, format_type(a.atttypid, NULL), a.atttypid, t.typarray"
    " FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid"
    " WHERE a.attrelid = CAST(%s AS regclass) AND a.attnum > 0 AND NOT a.attisdropped"
)


@lru_cache(maxsize=64)
def _plan(
    table: Table, columns: tuple[str, ...], dialect: Dialect
) -> tuple[tuple[str, ...], tuple[Binder, ...], list[Any] | None]:
    """The INSERT's column names (the rows' own, then those with a plain default), each given
    column's bind function, and the defaults' values (None when one must be computed)."""
    binders = tuple(
        table.c[name].type.dialect_impl(dialect).bind_processor(dialect) for name in columns
    )
    extra, defaults = [], []
    for column in table.c:
        if column.name in columns or column.default is None:
            continue
        if not isinstance(column.default, ScalarElementColumnDefault):
            return columns, binders, None
        value, bind = column.default.arg, column.type.dialect_impl(dialect).bind_processor(dialect)
        extra.append(column.name)
        defaults.append(value if bind is None else bind(value))
    return columns + tuple(extra), binders, defaults
