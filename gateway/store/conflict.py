"""``INSERT … ON CONFLICT (key) DO NOTHING`` on both backends, built once per dialect.

PostgreSQL and SQLite each have their own ``insert`` with ``on_conflict_do_nothing``; the
statement takes its values as parameters, so it is built once (a statement built per call
costs SQLAlchemy ~100 µs for its cache key and values).
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from sqlalchemy import Table
from sqlalchemy.dialects import postgresql, sqlite


@lru_cache(maxsize=32)
def insert_unless_taken(
    dialect: str, table: Table, key: tuple[str, ...], returning: tuple[str, ...] = ()
) -> Any:
    """INSERT into ``table`` unless a row holds the same ``key`` (a unique index's columns;
    empty: any unique index's); with ``returning``, those columns of the new row (none when
    the key was taken)."""
    statement = (postgresql.insert if dialect == "postgresql" else sqlite.insert)(table)
    statement = statement.on_conflict_do_nothing(index_elements=list(key) or None)
    return statement.returning(*(table.c[name] for name in returning)) if returning else statement
