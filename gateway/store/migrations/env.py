"""Alembic environment: runs on the connection ``gateway.store.db.upgrade`` hands over.

Without one (the ``alembic`` command line during development), it builds an engine from
``sqlalchemy.url`` with the store's own settings (WAL, foreign keys, BEGIN IMMEDIATE).
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import text
from sqlalchemy.engine import Connection

from gateway.store.db import make_engine
from gateway.store.tables import Base

config = context.config
target_metadata = Base.metadata
LOCK_KEY = 0x6762_6167_7720_6462  # 'gbagw db'


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",  # SQLite ALTERs by table copy
        compare_type=True,
    )
    with context.begin_transaction():
        if connection.dialect.name == "postgresql":
            # several machines may run `gbagw db upgrade` at once: one migrates, the others
            # wait, then find the database at head (SQLite's BEGIN IMMEDIATE does the same)
            connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": LOCK_KEY})
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    url = config.get_main_option("sqlalchemy.url")
    if not url:
        raise RuntimeError("no database: set sqlalchemy.url or pass a connection")
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            _run(connection)
    finally:
        engine.dispose()


if context.is_offline_mode():
    raise RuntimeError("offline (--sql) migrations are not supported; upgrade a database")
run_migrations_online()
