"""Who is calling: a bearer token names an API client, whose role decides its routes.

``Depends(authenticated("platform"))`` on a route admits only platform clients: no, bad or
revoked token → ``401`` (with ``WWW-Authenticate: Bearer``), a client over its rate →
``429`` with ``Retry-After`` (whatever the route), another role → ``403``. The caller is also
left on ``request.state.caller`` for the audit log.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

from fastapi import HTTPException, Request, Security, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from gateway.api.limits import RateLimiter
from gateway.store.clients import client_for_token
from gateway.store.db import transaction

bearer = HTTPBearer(auto_error=False, description="A token from `gbagw clients add`.")


@dataclass(frozen=True)
class Caller:
    """An authenticated API client."""

    client_id: str
    name: str
    role: str
    #: the agency an ``agency`` caller speaks for
    agency: str | None = None


def unauthorized(detail: str) -> HTTPException:
    return HTTPException(
        status.HTTP_401_UNAUTHORIZED, detail=detail, headers={"WWW-Authenticate": "Bearer"}
    )


def authenticated(*roles: str) -> Callable[..., Caller]:
    """A dependency admitting clients of ``roles`` (all roles when none is named)."""

    def caller(
        request: Request,
        # the roles as security scopes, so the OpenAPI description names them per operation
        # (a default, not an annotation: annotations are strings here and cannot see `roles`)
        credentials: HTTPAuthorizationCredentials | None = Security(  # noqa: B008
            bearer, scopes=list(roles)
        ),
    ) -> Caller:
        if credentials is None or credentials.scheme.lower() != "bearer":
            raise unauthorized("a bearer token is required")
        runtime = request.app.state.runtime
        with transaction(runtime.sessions, read_only=True) as session:
            client = client_for_token(session, credentials.credentials)
            found = (
                None
                if client is None
                else Caller(client.id, client.name, client.role, client.agency)
            )
        if found is None:
            raise unauthorized("the token is unknown or revoked")
        request.state.caller = found
        _within_rate(request, found)
        if roles and found.role not in roles:
            raise HTTPException(
                status.HTTP_403_FORBIDDEN, detail=f"the {found.role} role may not call this route"
            )
        return found

    return caller


def _within_rate(request: Request, caller: Caller) -> None:
    limiter: RateLimiter | None = getattr(request.app.state, "rate_limiter", None)
    # a route may stack two of these dependencies: one request takes one token
    if limiter is None or getattr(request.state, "rate_counted", False):
        return
    request.state.rate_counted = True
    wait = limiter.wait(caller.client_id)
    if wait > 0:
        raise HTTPException(
            status.HTTP_429_TOO_MANY_REQUESTS,
            detail=f"more than {limiter.rate:g} requests a second (burst {limiter.burst}); "
            "retry after the seconds in Retry-After",
            headers={"Retry-After": str(max(1, math.ceil(wait)))},
        )
