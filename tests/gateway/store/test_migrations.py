"""Migrations create exactly the models' schema, on both backends, and the engine settings hold."""

from __future__ import annotations

import datetime as dt
import multiprocessing
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Column, Integer, MetaData, inspect, select, text

from gateway.store import db as store_db
from gateway.store.db import (
    SchemaNotCurrent,
    current_revision,
    ensure_schema,
    head_revision,
    make_engine,
    transaction,
    upgrade,
)
from gateway.store.tables import Base, Item
from gateway.store.testing import Backend, throwaway_postgres

TABLES = {
    "items",
    "cases",
    "messages",
    "outbox",
    "delivery_attempts",
    "agency_events",
    "supplement_requests",
    "pending_materials",
    "receipts",
    "case_events",
    "agency_breakers",
    "api_clients",
}
#: tables later migrations add beside the core set (each named by its own section)
TABLES |= set(Base.metadata.tables) - TABLES


def _diff(url: str, metadata: MetaData = Base.metadata) -> list[object]:
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={"compare_type": True})
            return list(compare_metadata(context, metadata))
    finally:
        engine.dispose()


def _tables(url: str) -> set[str]:
    engine = make_engine(url)
    try:
        return set(inspect(engine).get_table_names()) - {"alembic_version"}
    finally:
        engine.dispose()


def _round_trip(url: str) -> None:
    upgrade(url)
    assert _tables(url) == TABLES
    assert _diff(url) == []

    # the comparison is live: a column the migration lacks is reported
    extra = MetaData()
    for table in Base.metadata.sorted_tables:
        table.to_metadata(extra)
    extra.tables["cases"].append_column(Column("surprise", Integer))
    assert _diff(url, extra) != []

    config = store_db._alembic_config(store_db.normalise_url(url))
    command.downgrade(config, "base")
    assert _tables(url) == set()
    upgrade(url)
    assert _diff(url) == []


def test_round_trip_sqlite(tmp_path: Path) -> None:
    _round_trip(f"sqlite:///{tmp_path / 'fresh.sqlite3'}")


def test_round_trip_postgresql() -> None:
    with throwaway_postgres("migr") as url:
        # a server database is upgraded deliberately, never implicitly on first use
        with pytest.raises(SchemaNotCurrent, match="gbagw db upgrade"):
            ensure_schema(url)
        _round_trip(url)
        ensure_schema(url)


def test_sqlite_embedded_default_upgrades_itself(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'var' / 'nested' / 'gateway.sqlite3'}"
    ensure_schema(url)
    engine = make_engine(url)
    try:
        assert current_revision(engine) == head_revision()
        with engine.connect() as connection:
            assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
            assert connection.exec_driver_sql("PRAGMA busy_timeout").scalar() >= 1000
    finally:
        engine.dispose()
    ensure_schema(url)  # second call: cached, no work


def test_upgrade_works_from_any_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # no alembic.ini here, none needed
    upgrade("sqlite:///relative.sqlite3")
    assert _tables(f"sqlite:///{tmp_path / 'relative.sqlite3'}") == TABLES


def test_timestamps_come_back_aware_utc(db: Backend) -> None:
    hong_kong = dt.timezone(dt.timedelta(hours=8))
    at = dt.datetime(2026, 3, 2, 17, 30, 15, 123456, tzinfo=hong_kong)
    with transaction(db.factory) as session:
        session.add(
            Item(
                item_code="X",
                version=1,
                base_code="X",
                name="n",
                status="ACTIVE",
                content={"k": "v"},
                sha256="0" * 64,
                recorded_at=at,
            )
        )
    with transaction(db.factory) as session:
        stored = session.scalar(select(Item.recorded_at))
    assert stored == at and stored.utcoffset() == dt.timedelta(0)
    assert stored.tzinfo is dt.UTC


def test_naive_timestamps_are_refused(db: Backend) -> None:
    with pytest.raises(Exception, match="naive datetime refused"):
        with transaction(db.factory) as session:
            session.add(
                Item(
                    item_code="X",
                    version=1,
                    base_code="X",
                    name="n",
                    status="ACTIVE",
                    content={},
                    sha256="0" * 64,
                    recorded_at=dt.datetime(2026, 3, 2),
                )
            )


def test_foreign_keys_are_enforced(db: Backend) -> None:
    with pytest.raises(Exception, match="(?i)foreign key"):
        with transaction(db.factory) as session:
            session.execute(
                text(
                    "INSERT INTO case_events (case_ref, seq, event, source, at)"
                    " VALUES ('GBA-NOPE', 1, 'filed', 'gateway', :at)"
                ),
                {"at": dt.datetime(2026, 1, 1, tzinfo=dt.UTC)},
            )


def test_concurrent_upgrades_from_several_processes(tmp_path: Path) -> None:
    """Several machines running `gbagw db upgrade` at once: one migrates, the rest find head.

    Forked children (modules already imported: fast) upgrade each database two at a time.
    """
    fork = multiprocessing.get_context("fork")
    with throwaway_postgres("race") as postgres_url:
        urls = [f"sqlite:///{tmp_path / 'shared.sqlite3'}", postgres_url]
        children = [fork.Process(target=upgrade, args=(url,)) for url in urls for _ in range(2)]
        for child in children:
            child.start()
        for child in children:
            child.join(60)
        assert [child.exitcode for child in children] == [0, 0, 0, 0]
        for url in urls:
            assert _diff(url) == []


def test_read_only_transactions_do_not_queue_behind_a_writer(db: Backend) -> None:
    with transaction(db.factory) as writer:
        writer.add(
            Item(
                item_code="W",
                version=1,
                base_code="W",
                name="n",
                status="ACTIVE",
                content={},
                sha256="0" * 64,
                recorded_at=dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
            )
        )
        writer.flush()  # the writer holds its lock (SQLite: the database's) from here
        with transaction(db.factory, read_only=True) as reader:
            assert reader.scalar(select(Item.item_code)) is None  # last committed snapshot
