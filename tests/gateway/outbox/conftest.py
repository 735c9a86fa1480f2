"""Store fixtures: every test runs against SQLite (file, WAL) and PostgreSQL.

PostgreSQL missing is a failure, never a skip. Each xdist worker migrates one throwaway
database per backend for the session; ``db`` empties it before each test.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from sqlalchemy.exc import OperationalError

from gateway.store.testing import Backend, admin_url, clear, migrated_backend

BACKENDS = ["sqlite", "postgresql"]


@pytest.fixture(scope="session", params=BACKENDS)
def backend(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Backend]:
    worker = os.environ.get("PYTEST_XDIST_WORKER", "main")  # gw0, gw1… under xdist
    try:
        with migrated_backend(request.param, tmp_path_factory.mktemp("db"), worker) as b:
            yield b
    except OperationalError as error:
        pytest.fail(f"PostgreSQL at {admin_url()} is required and unreachable: {error}")


@pytest.fixture
def db(backend: Backend) -> Backend:
    clear(backend)
    return backend
