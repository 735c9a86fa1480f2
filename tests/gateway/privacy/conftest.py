"""Engines bound to chosen data keyrings over the shared test databases, and a way to read
what a column really holds on disk (its raw, still-encrypted value)."""

from __future__ import annotations

import copy
import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from sqlalchemy import select, type_coerce
from sqlalchemy.orm import Session, sessionmaker

from gateway.privacy import keyring
from gateway.privacy.keyring import Keyring
from gateway.store import make_engine, session_factory
from gateway.store.testing import Backend, filing

KEY_ONE = keyring.new_key_entry("k1")
KEY_TWO = keyring.new_key_entry("k2")


@contextmanager
def bound_sessions(backend: Backend, spec: str) -> Iterator[sessionmaker[Session]]:
    """Sessions over ``backend`` whose engine encrypts with the keyring ``spec``."""
    engine = make_engine(backend.url)
    keyring.bind(engine, keyring.parse(spec))
    try:
        yield session_factory(engine)
    finally:
        engine.dispose()


def ring(spec: str) -> Keyring:
    return keyring.parse(spec)


def raw(session: Session, column: Any, where: Any) -> Any:
    """What the database holds in ``column`` (no decryption)."""
    value = session.scalar(select(type_coerce(column, column.type.impl)).where(where))
    return bytes(value) if isinstance(value, memoryview) else value


def personal_filing(n: int, **kwargs: Any) -> dict[str, Any]:
    """``file_case`` arguments whose application has an applicant and an agent with ID
    numbers, phones and addresses."""
    arguments = filing(n, **kwargs)
    application = copy.deepcopy(arguments["application"])
    application["applicant"] = {
        "name": "陈大文",
        "nameLatin": {"surname": "CHAN", "given": "TAI MAN"},
        "idType": "HK_ID",
        "idNumber": f"K{600000 + n}(4)",
        "mobile": "+852 9123 4567",
        "address": {"lines": ["香港九龙旺角弥敦道600号8楼B室"], "region": "HK"},
    }
    application["agent"] = {"name": "林建国", "idType": "PRC_ID", "idNumber": "440305198007023149"}
    application["delivery"] = {"channel": "ELECTRONIC"}
    arguments["application"] = application
    return arguments


@pytest.fixture
def now() -> dt.datetime:
    return dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC)
