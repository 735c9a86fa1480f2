"""Refusals in one shape (:class:`~gateway.api.schemas.ApiError`), never echoing what was sent.

Routes raise :class:`Refused`; a router built with ``route_class=RefusingRoute`` turns it, and
FastAPI's own body and parameter checks, into an ``ApiError`` body. FastAPI's default 422
body repeats each offending value (``input``), which could be an ID number or a name: here a
problem is only its field path and what is wrong with it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Coroutine, Iterable, Sequence
from typing import Any

from fastapi import Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute

from gateway.api.schemas import CASE_REF, TEXT_PATTERN, ApiError, FieldProblem
from gateway.intake.problems import Problem, json_path

#: where FastAPI says a value came from, first in an error's ``loc``
_SOURCES = {"body", "path", "query", "header", "cookie"}


class Refused(Exception):
    """A request the gateway will not carry out: ``status``, one line, and any problems."""

    def __init__(self, status: int, detail: str, problems: Iterable[Problem] = ()):
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.problems = list(problems)


def case_ref_or_404(ref: str) -> str:
    """``ref`` when it has the form of a case reference; anything else cannot name a case.
    The refusal does not repeat it: a malformed reference could be anything a client typed."""
    if not re.fullmatch(CASE_REF, ref):
        raise Refused(404, "no such case")
    return ref


def error_response(status: int, detail: str, problems: Iterable[Problem] = ()) -> JSONResponse:
    body = ApiError(
        detail=detail, errors=[FieldProblem(path=p.path, message=p.message) for p in problems]
    )
    return JSONResponse(body.model_dump(mode="json", by_alias=True), status_code=status)


def problems_of(errors: Sequence[Any]) -> list[Problem]:
    """FastAPI's validation errors as problems: path and message, the value left out."""
    found = []
    for error in errors:
        loc = tuple(error.get("loc", ()))
        if loc and loc[0] in _SOURCES:
            loc = loc[1:]
        kind = error.get("type")
        if kind == "json_invalid":
            reason = (error.get("ctx") or {}).get("error", "")
            found.append(Problem("", f"the body is not valid JSON: {reason}".rstrip(": ")))
        elif kind == "missing" and not loc:
            found.append(Problem("", "a JSON body is required"))
        elif kind == "string_pattern_mismatch":
            found.append(Problem(json_path(loc), _pattern_message(error)))
        else:
            found.append(Problem(json_path(loc), str(error.get("msg", "is invalid"))))
    return found


def _pattern_message(error: Any) -> str:
    pattern = (error.get("ctx") or {}).get("pattern")
    if pattern == TEXT_PATTERN:
        return "must not be blank or hold control characters (other than tab and line breaks)"
    return f"must match {pattern}"


class RefusingRoute(APIRoute):
    """A route whose refusals (:class:`Refused`, invalid requests) are ``ApiError`` bodies."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def route(request: Request) -> Response:
            try:
                return await handler(request)
            except RequestValidationError as exc:
                return error_response(422, "the request is invalid", problems_of(exc.errors()))
            except Refused as exc:
                return error_response(exc.status, exc.detail, exc.problems)

        return route
