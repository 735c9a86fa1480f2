"""Shared fixtures: one development key directory and one pipeline per test session, and the
store on both backends (SQLite file with WAL, and PostgreSQL over a real connection)."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.exc import OperationalError

from gateway.render.pipeline import Pipeline
from gateway.store.testing import Backend, admin_url, clear, migrated_backend
from signing import KeyDirectory

BACKENDS = ["sqlite", "postgresql"]


@pytest.fixture(scope="session", params=BACKENDS)
def backend(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Backend]:
    """One migrated throwaway database per backend and xdist worker; PostgreSQL missing is a
    failure, never a skip."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "main")  # gw0, gw1… under xdist
    try:
        with migrated_backend(request.param, tmp_path_factory.mktemp("db"), worker) as b:
            yield b
    except OperationalError as error:
        pytest.fail(f"PostgreSQL at {admin_url()} is required and unreachable: {error}")


@pytest.fixture
def db(backend: Backend) -> Backend:
    """The backend, emptied: each test starts from a migrated schema with no rows."""
    clear(backend)
    return backend


@pytest.fixture(scope="session")
def keys(tmp_path_factory: pytest.TempPathFactory) -> KeyDirectory:
    directory = KeyDirectory(tmp_path_factory.mktemp("keys"))
    directory.init()
    return directory


@pytest.fixture(scope="session")
def pipeline() -> Pipeline:
    return Pipeline()


@pytest.fixture(scope="session")
def xmlsec1() -> str:
    """Debian's xmlsec1, the independent interop witness. Missing is a failure, not a skip."""
    path = shutil.which("xmlsec1")
    if path is None:
        pytest.fail("xmlsec1 is not installed: run ./dev test (it installs Debian's xmlsec1)")
    return path


@pytest.fixture(scope="session")
def gateway_cert(keys: KeyDirectory) -> Path:
    return sorted((keys.path / "parties" / "GD-GBA-GW").glob("*.cert.pem"))[-1]
