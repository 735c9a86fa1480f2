"""Migration 0006 encrypts what an older store holds in clear and hashes its ID numbers; its
downgrade gives the clear values back — on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command

from gateway.config import settings
from gateway.privacy import sealing
from gateway.privacy.lookup import cases_by_id_number
from gateway.store import db as store_db
from gateway.store import make_engine, transaction, upgrade
from gateway.store.tables import Case, Message
from gateway.store.testing import Backend, throwaway_postgres
from tests.gateway.privacy.conftest import KEY_ONE, bound_sessions, personal_filing

AT = dt.datetime(2026, 3, 2, tzinfo=dt.UTC)


@contextmanager
def database(kind: str, tmp_path: Path) -> Iterator[str]:
    if kind == "sqlite":
        yield f"sqlite:///{tmp_path / 'old.sqlite3'}"
        return
    with throwaway_postgres("m0006") as url:
        yield url


def store_in_clear(url: str, arguments: dict) -> None:
    """One case and its message as revision 0005 stored them: no encryption."""
    cases = sa.table(
        "cases",
        *(sa.column(n) for n in ("case_ref", "application_no", "application_sha256")),
        sa.column("application", sa.JSON),
        sa.column("texts", sa.JSON),
        *(sa.column(n) for n in ("item_code", "item_version", "mapping_id", "mapping_version")),
        *(sa.column(n) for n in ("region", "agency", "state", "last_seq", "event_count")),
        sa.column("created_at", sa.DateTime(timezone=True)),
        sa.column("updated_at", sa.DateTime(timezone=True)),
    )
    messages = sa.table(
        "messages",
        *(sa.column(n) for n in ("case_ref", "direction", "kind", "message_id", "sha256")),
        sa.column("body", sa.LargeBinary),
        sa.column("verified", sa.Boolean),
        sa.column("created_at", sa.DateTime(timezone=True)),
    )
    engine = make_engine(url)
    try:
        with engine.begin() as connection:
            connection.execute(
                cases.insert().values(
                    **{k: arguments[k] for k in ("case_ref", "application_no", "application")},
                    application_sha256="0" * 64,
                    texts=arguments["texts"],
                    **{k: arguments[k] for k in ("item_code", "item_version", "mapping_id")},
                    mapping_version=arguments["mapping_version"],
                    region=arguments["region"],
                    agency=arguments["agency"],
                    state="filed",
                    last_seq=0,
                    event_count=1,
                    created_at=AT,
                    updated_at=AT,
                )
            )
            connection.execute(
                messages.insert().values(
                    case_ref=arguments["case_ref"],
                    direction="out",
                    kind="CaseSubmission",
                    message_id=arguments["message_id"],
                    sha256="0" * 64,
                    body=arguments["document"],
                    verified=True,
                    created_at=AT,
                )
            )
    finally:
        engine.dispose()


def clear_values(url: str) -> tuple[object, bytes]:
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            cases = sa.table("cases", sa.column("application", sa.JSON))
            messages = sa.table("messages", sa.column("body", sa.LargeBinary))
            application = connection.scalar(sa.select(cases.c.application))
            body = connection.scalar(sa.select(messages.c.body))
    finally:
        engine.dispose()
    return application, bytes(body)


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
def test_0006_encrypts_an_older_store_and_its_downgrade_decrypts(
    kind: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GBAGW_DATA_KEYS", KEY_ONE)  # what `gbagw db upgrade` would be given
    settings.cache_clear()
    arguments = personal_filing(1)
    try:
        with database(kind, tmp_path) as url:
            upgrade(url, "0005")
            store_in_clear(url, arguments)
            upgrade(url)

            application, body = clear_values(url)
            assert sealing.is_sealed(body) and sealing.key_id_of(body) == "k1"
            assert isinstance(application, str) and sealing.key_id_of(application) == "k1"
            backend = Backend(kind, url, None, None)  # type: ignore[arg-type]
            with bound_sessions(backend, KEY_ONE) as sessions, transaction(sessions) as session:
                case = session.get(Case, arguments["case_ref"])
                assert case.application == arguments["application"]
                assert session.scalar(sa.select(Message.body)) == arguments["document"]
                agent_id = arguments["application"]["agent"]["idNumber"]
                assert cases_by_id_number(session, agent_id) == [arguments["case_ref"]]

            command.downgrade(store_db._alembic_config(store_db.normalise_url(url)), "0005")
            application, body = clear_values(url)
            assert body == arguments["document"]
            assert application == arguments["application"]
    finally:
        settings.cache_clear()
