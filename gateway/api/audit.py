"""Every write request (POST, PUT, PATCH, DELETE) leaves a row in the append-only audit log.

:class:`Audit` is the outermost ASGI middleware, so refusals are recorded too: no or a bad
token (401), a wrong role (403), over the rate (429), a body the guard refused (400/408/413/
415). The row is written when the answer starts, before the client sees it; a request that
ends without an answer is recorded as 499 (the client left) or 500.

Who: the client :func:`gateway.api.auth.authenticated` found (``request.state.caller``). What:
the method, the route template and a target — the route's path parameters (a case reference,
an outbox id), or what a route names with :func:`audit_target` (the case a filing created).
From where: the peer address as the server saw it. Never a token, a body or personal data.
"""

from __future__ import annotations

import logging
from typing import Any

import anyio
from fastapi import Request
from sqlalchemy.orm import Session, sessionmaker
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway.store.audit import Write, record_write
from gateway.store.db import transaction

log = logging.getLogger(__name__)

WRITES = frozenset({"POST", "PUT", "PATCH", "DELETE"})
#: no answer was sent because the client went away first (nginx's code for it)
CLIENT_LEFT = 499


def audit_target(request: Request, target: str) -> None:
    """Name what this request acted on, when the path does not (a case just filed)."""
    request.state.audit_target = target


class Audit:
    """ASGI middleware recording each write request in ``sessions``' audit log."""

    def __init__(self, app: ASGIApp, *, sessions: sessionmaker[Session]) -> None:
        self.app = app
        self.sessions = sessions

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in WRITES:
            await self.app(scope, receive, send)
            return
        recorded = False

        async def recording(message: Message) -> None:
            nonlocal recorded
            if message["type"] == "http.response.start" and not recorded:
                recorded = True
                await self._record(scope, message["status"])
            await send(message)

        try:
            await self.app(scope, receive, recording)
        except Exception:
            if not recorded:
                recorded = True
                await self._record(scope, 500)
            raise
        finally:
            if not recorded:
                await self._record(scope, CLIENT_LEFT)

    async def _record(self, scope: Scope, status: int) -> None:
        write = _write_of(scope, status)
        try:
            await anyio.to_thread.run_sync(self._store, write)
        except Exception as exc:  # noqa: BLE001 - the answer goes out; the gap is logged loudly
            log.error(
                "audit entry not written (%s %s %d): %s",
                write.method,
                write.route,
                status,
                type(exc).__name__,
            )

    def _store(self, write: Write) -> None:
        with transaction(self.sessions) as session:
            record_write(session, write)


def _write_of(scope: Scope, status: int) -> Write:
    state: dict[str, Any] = scope.get("state") or {}
    caller = state.get("caller")
    route = getattr(scope.get("route"), "path_format", None) or str(scope.get("path", ""))
    params = scope.get("path_params") or {}
    target = state.get("audit_target") or "/".join(str(v) for v in params.values()) or None
    client = scope.get("client")
    return Write(
        method=scope["method"],
        route=route,
        status=status,
        client_id=getattr(caller, "client_id", None),
        actor=getattr(caller, "name", None),
        role=_role(caller),
        target=target,
        address=client[0] if client else None,
    )


def _role(caller: Any) -> str | None:
    if caller is None:
        return None
    return f"agency:{caller.agency}" if caller.agency else str(caller.role)
