"""The public API served over real HTTP on SQLite and PostgreSQL, with one client per role.

``api.as_(role)`` is an ``httpx.Client`` presenting a fresh token of that role
(``platform``, ``operator``, ``agency:HK-TD`` …); ``api.anonymous`` presents none.
``running_api(db, keys, routers=…, **settings)`` serves one with other settings or routes.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Annotated, Any

import httpx
import pytest
from fastapi import APIRouter, Depends

from gateway.api.app import create_app
from gateway.api.auth import Caller, authenticated
from gateway.config import Settings
from gateway.delivery.runtime import Runtime
from gateway.serve import serving
from gateway.store.clients import Role, add_client
from gateway.store.db import transaction
from gateway.store.testing import Backend
from signing import KeyDirectory


@dataclass
class Api:
    url: str
    runtime: Runtime
    clients: list[httpx.Client] = field(default_factory=list)

    def token(self, role: str, name: str | None = None) -> str:
        with transaction(self.runtime.sessions) as session:
            count = len(self.clients)
            _, token = add_client(
                session, name or f"{role.replace(':', '-')}-{count}", Role.parse(role)
            )
        return token

    def as_(self, role: str, name: str | None = None) -> httpx.Client:
        return self._client({"Authorization": f"Bearer {self.token(role, name)}"})

    @property
    def anonymous(self) -> httpx.Client:
        return self._client({})

    def _client(self, headers: dict[str, str]) -> httpx.Client:
        client = httpx.Client(base_url=self.url, headers=headers, timeout=30)
        self.clients.append(client)
        return client


# module level: FastAPI resolves these postponed annotations in the module's namespace
PlatformCaller = Annotated[Caller, Depends(authenticated("platform"))]
AnyCaller = Annotated[Caller, Depends(authenticated())]


def probe_router() -> APIRouter:
    """Test-only routes behind the real guard, audit and authentication: ``POST
    /probe/cases/{ref}/notes`` (platform) echoes its JSON body's keys, ``GET /probe/whoami``
    (any role) names the caller, ``POST /probe/boom`` (any role) fails unexpectedly with
    personal data in its message."""
    router = APIRouter(prefix="/probe")

    @router.post("/cases/{ref}/notes")
    def note(ref: str, body: dict[str, Any], caller: PlatformCaller) -> dict[str, Any]:
        return {"ref": ref, "keys": sorted(body), "by": caller.name}

    @router.get("/whoami")
    def whoami(caller: AnyCaller) -> dict[str, Any]:
        return {"name": caller.name, "role": caller.role, "agency": caller.agency}

    @router.post("/boom")
    def boom(_: AnyCaller) -> None:
        raise RuntimeError("陈大文 K628913(4) +85291234567 could not be processed")

    return router


@contextmanager
def running_api(
    db: Backend, keys: KeyDirectory, *, routers: Sequence[APIRouter] = (), **settings: Any
) -> Iterator[Api]:
    """The app with ``settings`` (``api_rate=…``) and extra ``routers`` (test-only routes)."""
    runtime = Runtime(Settings(database_url=db.url, keys=keys.path, **settings))
    try:
        app = create_app(runtime)
        for router in routers:
            app.include_router(router)
        with serving(app) as url:
            api = Api(url, runtime)
            try:
                yield api
            finally:
                for client in api.clients:
                    client.close()
    finally:
        runtime.close()


@pytest.fixture
def api(db: Backend, keys: KeyDirectory) -> Iterator[Api]:
    with running_api(db, keys) as api:
        yield api
