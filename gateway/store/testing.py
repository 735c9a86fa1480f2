"""Throwaway databases for tests (both backends), without any test framework imported.

A PostgreSQL test database is created per test session (and per xdist worker) under a random
name, ``gbagw_test_<worker>_<hex>``, and dropped at the end, so parallel workers and parallel
CI runs never share rows. The server is reached through ``GBAGW_TEST_POSTGRES`` (an admin
URL; default ``postgresql+psycopg://postgres@127.0.0.1:5432/postgres``).
"""

from __future__ import annotations

import datetime as dt
import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, delete, text
from sqlalchemy.orm import Session, sessionmaker

from gateway.store.db import make_engine, normalise_url, session_factory, upgrade
from gateway.store.outbound import add_outbound
from gateway.store.tables import Base

DEFAULT_ADMIN_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"


def admin_url() -> str:
    return os.environ.get("GBAGW_TEST_POSTGRES", DEFAULT_ADMIN_URL)


@contextmanager
def throwaway_postgres(tag: str = "") -> Iterator[str]:
    """Create an empty PostgreSQL database, yield its URL, drop it (even after a failure).

    Raises ``sqlalchemy.exc.OperationalError`` when the server cannot be reached.
    """
    name = f"gbagw_test_{tag + '_' if tag else ''}{secrets.token_hex(6)}".lower()
    admin = create_engine(normalise_url(admin_url()), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
            # a throwaway database needs no durability: commits without waiting for fsync
            connection.execute(text(f'ALTER DATABASE "{name}" SET synchronous_commit = off'))
        try:
            yield (
                normalise_url(admin_url()).set(database=name).render_as_string(hide_password=False)
            )
        finally:
            with admin.connect() as connection:
                connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        admin.dispose()


@dataclass
class Backend:
    name: str  # "sqlite" or "postgresql"
    url: str
    engine: Engine
    factory: sessionmaker[Session]


@contextmanager
def migrated_backend(name: str, directory: Path, tag: str = "") -> Iterator[Backend]:
    """A fresh database of backend ``name`` upgraded to head, disposed of afterwards."""
    if name == "sqlite":
        url = f"sqlite:///{directory / 'gateway.sqlite3'}"
        upgrade(url)
        engine = make_engine(url)
        try:
            yield Backend(name, url, engine, session_factory(engine))
        finally:
            engine.dispose()
        return
    if name != "postgresql":
        raise ValueError(f"unknown backend {name}")
    with throwaway_postgres(tag) as url:
        upgrade(url)
        engine = make_engine(url)
        try:
            yield Backend(name, url, engine, session_factory(engine))
        finally:
            engine.dispose()


def clear(backend: Backend) -> None:
    """Delete every row (children first): each test starts from an empty, migrated schema."""
    with backend.factory() as session, session.begin():
        for table in reversed(Base.metadata.sorted_tables):
            if not table.info.get("append_only"):  # a trigger refuses DELETE: rows stay
                session.execute(delete(table))


def filing(
    n: int = 1, *, agency: str = "HKTD", region: str = "HK", note: str = ""
) -> dict[str, Any]:
    """Keyword arguments for ``file_case``: application ``n``; ``note`` changes the content."""
    application_no = f"44{n:016d}"
    application = {
        "applicationNo": application_no,
        "itemCode": "11440000006939027K2440172041000",
        "itemVersion": 1,
        "targetRegion": region,
        "applicant": {"name": "陈大文", "mobile": "+85291234567"},
        "form": {"plateNumber": f"AB{n:04d}", "note": note},
    }
    return {
        "case_ref": f"GBA-{n:020X}",
        "application_no": application_no,
        "application": application,
        "item_code": application["itemCode"],
        "item_version": 1,
        "mapping_id": f"northbound-vehicle.{region.lower()}",
        "mapping_version": 3,
        "region": region,
        "agency": agency,
        "texts": [{"path": "applicant.name", "original": "陈大文", "converted": "陳大文"}],
        "document": f"<CaseSubmission Id='cs-{n}'>signed {n}</CaseSubmission>".encode(),
        "message_id": f"MSG-{n:08d}",
        "kind": "CaseSubmission",
    }


def enqueue_many(
    backend: Backend, count: int, *, destination: str, now: dt.datetime, start: int = 0
) -> list[str]:
    """``count`` caseless pending rows for ``destination``, due at ``now``; their ids."""
    with backend.factory() as session, session.begin():
        return [
            add_outbound(
                session,
                kind="notification",
                destination=destination,
                document=f"<Notice n='{n}'/>".encode(),
                message_id=f"N-{destination}-{n}",
                message_kind="Notice",
                case_ref=None,
                now=now,
            )
            for n in range(start, start + count)
        ]
