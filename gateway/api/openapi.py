"""The OpenAPI description, completed with what every route shares.

FastAPI documents what a route declares; the answers that come from shared layers (the
bearer check, the rate limiter, the body guard) are added here once, so clients and
schemathesis see every status a route can give. Each authenticated operation also names the
roles it admits: the bearer requirement's role list (OpenAPI 3.1 allows roles there; the
dependency declares them as security scopes) and, for tools that read extensions, ``x-roles``.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

PROBLEM = {
    "type": "object",
    "properties": {"detail": {}},
    "required": ["detail"],
}
SHARED = {
    "401": "No, unknown or revoked bearer token",
    "403": "The caller's role may not use this route",
    "429": "Over the client's rate limit; retry after `Retry-After` seconds",
}
WRITES = {"post", "put", "patch"}
BODY = {
    "400": "The body is not acceptable (empty, encoding, control characters, repeated keys, depth)",
    "408": "The body did not arrive in time",
    "413": "The body is larger than the configured limit",
    "415": "The body's media type is not one this route reads (JSON routes: application/json)",
}


def complete_description(app: FastAPI) -> None:
    """Make ``app.openapi()`` return FastAPI's description completed as above."""
    generate = app.openapi

    def describe() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = generate()
            schema.setdefault("components", {}).setdefault("schemas", {})["Problem"] = PROBLEM
            for path in schema["paths"].values():
                for method, operation in path.items():
                    _complete(operation, _roles(operation), takes_body=method in WRITES)
        return app.openapi_schema or {}

    app.openapi = describe  # type: ignore[method-assign]


def _roles(operation: dict[str, Any]) -> tuple[str, ...] | None:
    """The roles a bearer-protected operation admits (empty: any client); None if public."""
    for requirement in operation.get("security", ()):
        if "HTTPBearer" in requirement:
            return tuple(requirement["HTTPBearer"])
    return None


def _complete(
    operation: dict[str, Any], roles: tuple[str, ...] | None, *, takes_body: bool
) -> None:
    responses = operation.setdefault("responses", {})
    shared = dict(SHARED) if roles is not None else {}
    if takes_body:  # the guard reads every write's body, declared or not (push receivers)
        shared.update(BODY)
    for status, description in shared.items():
        responses.setdefault(
            status,
            {
                "description": description,
                "content": {
                    "application/json": {"schema": {"$ref": "#/components/schemas/Problem"}}
                },
            },
        )
    if roles is not None:
        operation["x-roles"] = list(roles)
