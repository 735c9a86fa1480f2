"""Engines, sessions, transactions and schema upgrades for the store.

One code path serves both backends:

* SQLite (the embedded default): WAL, foreign keys on, a busy timeout, and every transaction
  opened with ``BEGIN IMMEDIATE`` — the writer lock is taken up front, so a transaction that
  reads then writes never fails half-way with "database is locked" (SQLite cannot upgrade a
  WAL read snapshot to a write lock once another writer committed). Writers queue instead.
* PostgreSQL through psycopg 3 (``postgresql://`` URLs get the ``+psycopg`` driver). A
  connection taken from the pool is pinged first only when it has been idle for a while
  (:data:`PING_AFTER_IDLE`): a server restart or a dropped link shows on idle connections,
  while a ping before every transaction cost a round trip each (~200 µs of CPU, two per
  received batch of pushes). A connection lost within the idle window fails its one
  transaction, as any statement can, and SQLAlchemy then replaces the whole pool.

Alembic's environment and revisions live inside the package (``migrations/``), so
``upgrade(url)`` works from any directory and from an installed wheel.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine, event, make_url
from sqlalchemy.engine import URL
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.orm import Session, sessionmaker

MIGRATIONS = Path(__file__).with_name("migrations")
SQLITE_BUSY_TIMEOUT_MS = 30_000
READ_ONLY = "gbagw_read_only"  # execution option: SQLite reads a snapshot, takes no write lock
PING_AFTER_IDLE = 1.0  # seconds a pooled server connection may rest before it is pinged


class SchemaNotCurrent(RuntimeError):
    """A server database is behind the code; ``gbagw db upgrade`` brings it to head."""


def normalise_url(url: str | URL) -> URL:
    """The URL with the driver the project uses: psycopg 3 for PostgreSQL."""
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed


def make_engine(url: str | URL, **kwargs: Any) -> Engine:
    """An engine configured for the store; ``kwargs`` go to :func:`sqlalchemy.create_engine`."""
    parsed = normalise_url(url)
    if parsed.get_backend_name() != "sqlite":
        ping_after = kwargs.pop("ping_after_idle", PING_AFTER_IDLE)
        engine = create_engine(parsed, **kwargs)
        if not kwargs.get("pool_pre_ping"):
            _ping_when_idle(engine, ping_after)
        return engine

    connect_args = kwargs.pop("connect_args", {})
    connect_args.setdefault("check_same_thread", False)
    connect_args.setdefault("timeout", SQLITE_BUSY_TIMEOUT_MS / 1000)
    engine = create_engine(parsed, connect_args=connect_args, **kwargs)
    in_memory = parsed.database in (None, "", ":memory:")

    @event.listens_for(engine, "connect")
    def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
        # autocommit at the driver level: SQLAlchemy's "begin" below emits BEGIN itself
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        if not in_memory:
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _begin_immediate(connection: Any) -> None:
        read_only = connection.get_execution_options().get(READ_ONLY, False)
        connection.exec_driver_sql("BEGIN DEFERRED" if read_only else "BEGIN IMMEDIATE")

    return engine


def _ping_when_idle(engine: Engine, seconds: float) -> None:
    """Ping a pooled connection at checkout when it rested ``seconds`` or more; a dead one
    is replaced (the pool retries the checkout on DisconnectionError)."""

    @event.listens_for(engine, "checkin")
    def _rested_from(_dbapi_connection: Any, record: Any) -> None:
        record.info["checked_in_at"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _ping_if_rested(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        since = record.info.pop("checked_in_at", None)
        if since is None or time.monotonic() - since < seconds:  # new, or just used
            return
        try:
            engine.dialect.do_ping(dbapi_connection)
        except engine.dialect.loaded_dbapi.Error as exc:
            raise DisconnectionError(f"a pooled connection is gone: {exc}") from exc


def session_factory(engine: Engine) -> sessionmaker[Session]:
    """Sessions that keep loaded values after commit (callers read results after the block)."""
    return sessionmaker(engine, expire_on_commit=False)


@contextmanager
def transaction(factory: sessionmaker[Session], *, read_only: bool = False) -> Iterator[Session]:
    """One unit of work: commit when the block ends, roll back when it raises.

    ``read_only=True`` (operator listings) lets SQLite read its last committed snapshot
    without queueing behind writers; a write inside such a block may fail with "database is
    locked". PostgreSQL is unaffected.
    """
    with factory() as session, session.begin():
        if read_only:
            session.connection(execution_options={READ_ONLY: True})
        yield session


def _alembic_config(url: URL) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", url.render_as_string(hide_password=False))
    return config


def _sqlite_parent(url: URL) -> None:
    if url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:"):
        Path(url.database).parent.mkdir(parents=True, exist_ok=True)


#: Alembic keeps its running environment in module globals: one migration per process at a time
_alembic_lock = threading.RLock()


def upgrade(url: str | URL, revision: str = "head") -> None:
    """Apply migrations up to ``revision`` (what ``gbagw db upgrade`` runs).

    Safe to run from several processes or machines at once: the migration transaction takes
    a PostgreSQL advisory lock (SQLite: the writer lock) before reading the current revision,
    so one process migrates and the others find the database at head.
    """
    parsed = normalise_url(url)
    _sqlite_parent(parsed)
    engine = make_engine(parsed)
    try:
        with _alembic_lock, engine.connect() as connection:
            config = _alembic_config(parsed)
            config.attributes["connection"] = connection
            command.upgrade(config, revision)
    finally:
        engine.dispose()


def head_revision() -> str | None:
    """The newest revision this code knows."""
    return ScriptDirectory(str(MIGRATIONS)).get_current_head()


def current_revision(engine: Engine) -> str | None:
    """The revision a database is at (None: never migrated)."""
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


_checked: set[str] = set()


def ensure_schema(url: str | URL) -> None:
    """Make sure the schema is current before first use, once per process and URL.

    SQLite (the embedded default) upgrades itself. A PostgreSQL database is shared by
    several machines and upgraded deliberately, so a stale one raises :class:`SchemaNotCurrent`.
    """
    parsed = normalise_url(url)
    key = parsed.render_as_string(hide_password=False)
    with _alembic_lock:
        if key in _checked:
            return
        _sqlite_parent(parsed)
        engine = make_engine(parsed)
        try:
            at = current_revision(engine)
        finally:
            engine.dispose()
        head = head_revision()
        if at != head:
            if parsed.get_backend_name() != "sqlite":
                raise SchemaNotCurrent(
                    f"database at revision {at or 'none'}, code expects {head}: "
                    "run `gbagw db upgrade`"
                )
            upgrade(parsed)
        _checked.add(key)
