"""Pooled PostgreSQL connections: pinged at checkout only after resting, and a dead one is
replaced — over a real server whose backends are terminated under the pool."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.exc import OperationalError

from gateway.store import make_engine
from gateway.store.testing import admin_url, throwaway_postgres


@pytest.fixture(scope="module")
def url() -> Iterator[str]:
    with throwaway_postgres("engine") as url:
        yield url


def _backend_pid(engine: Engine) -> int:
    with engine.begin() as connection:
        return int(connection.execute(text("SELECT pg_backend_pid()")).scalar_one())


def _terminate(pid: int) -> None:
    admin = make_engine(admin_url(), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
    finally:
        admin.dispose()


def _counting_pings(engine: Engine) -> list[int]:
    pings: list[int] = []
    ping = engine.dialect.do_ping

    def counted(dbapi_connection: Any) -> bool:
        pings.append(1)
        return ping(dbapi_connection)

    engine.dialect.do_ping = counted  # type: ignore[method-assign]
    return pings


def test_a_rested_connection_whose_server_side_is_gone_is_replaced_unseen(url: str) -> None:
    engine = make_engine(url, pool_size=1, ping_after_idle=0.05)
    try:
        first = _backend_pid(engine)
        _terminate(first)
        time.sleep(0.1)  # rested: pinged at the next checkout, found dead, replaced
        assert _backend_pid(engine) != first
    finally:
        engine.dispose()


def test_a_connection_just_used_is_not_pinged_and_a_rested_one_is(url: str) -> None:
    engine = make_engine(url, pool_size=1, ping_after_idle=60)
    pings = _counting_pings(engine)
    try:
        for _ in range(5):
            _backend_pid(engine)
        assert pings == []
    finally:
        engine.dispose()

    engine = make_engine(url, pool_size=1, ping_after_idle=0)
    pings = _counting_pings(engine)
    try:
        for _ in range(5):
            _backend_pid(engine)
        assert len(pings) == 4  # every checkout but the first, on a new connection
    finally:
        engine.dispose()


def test_a_connection_lost_while_just_used_fails_one_transaction_then_the_pool_recovers(
    url: str,
) -> None:
    engine = make_engine(url, pool_size=1, ping_after_idle=60)
    try:
        first = _backend_pid(engine)
        _terminate(first)
        with pytest.raises(OperationalError):
            _backend_pid(engine)
        assert _backend_pid(engine) != first
    finally:
        engine.dispose()
