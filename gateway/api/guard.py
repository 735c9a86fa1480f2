"""Hostile input stops here, before any route (push receivers included) sees a byte of it.

:class:`Guard` is ASGI middleware around the whole app. It reads each request body itself,
bounded in size and in time, and hands the route the bytes it read:

* ``Content-Length`` over ``api_max_body_bytes`` → ``413`` at once, nothing read; a chunked
  body is counted while it streams and cut with ``413`` at the limit;
* a body not complete within ``api_body_timeout`` (a client trickling bytes) → ``408``;
* a body typed neither JSON nor XML → ``415`` (XML is parsed safely by its receiver; an
  untyped body is checked as JSON when it starts like JSON, as FastAPI will read it so);
* JSON read strictly by the intake's own reader (:mod:`gateway.intake.jsontext`): invalid
  UTF-8, a repeated key, nesting over 32 levels, not an object → ``400``; so are control
  characters (but tab, CR and LF) escaped into any key or string.

Each refusal has the API's one error shape (``{"detail", "errors": [{"path", "message"}]}``,
:class:`~gateway.api.schemas.ApiError`) naming what is wrong, never echoing the body. An
unexpected exception in a route becomes a ``500`` problem with a reference; the log gets
its type and where it was raised, never its message (which may quote personal data).
"""

from __future__ import annotations

import json
import logging
import traceback
import uuid
from collections.abc import Iterator
from typing import Any

import anyio
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway.intake.jsontext import MAX_APPLICATION_BYTES, read_object
from gateway.intake.problems import ApplicationRejected, Problem, json_path
from gateway.text.convert import check_text
from gateway.text.tables import may_hold_invisible_or_noncharacter

log = logging.getLogger(__name__)

JSON = b"application/json"
#: bodies up to this size are checked on the event loop (tens of microseconds); larger on a thread
INLINE_CHECK_BYTES = 64_000
_JSON_SCALAR_OR_ARRAY = frozenset(b'["-0123456789tfn')
# In valid JSON a control character can only hide behind an escape, or be DEL/C1 raw.
_MAY_HIDE_CONTROL = (b"\\", b"\x7f", b"\xc2")


class Refusal(Exception):
    """The request is answered ``status`` with ``detail`` (and per-field ``errors``)."""

    def __init__(self, status: int, detail: str, errors: list[Problem] | None = None):
        super().__init__(detail)
        self.status, self.detail, self.errors = status, detail, errors or []


async def send_problem(send: Send, refusal: Refusal, *, close: bool = False) -> None:
    errors = [{"path": p.path, "message": p.message} for p in refusal.errors]
    body = json.dumps({"detail": refusal.detail, "errors": errors}, ensure_ascii=False).encode()
    headers = [(b"content-type", JSON), (b"content-length", str(len(body)).encode())]
    if close:  # the unread rest of the body cannot be skipped on this connection
        headers.append((b"connection", b"close"))
    await send({"type": "http.response.start", "status": refusal.status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class Guard:
    """ASGI middleware: bounded, timely, well-formed bodies; no traceback reaches a client."""

    def __init__(self, app: ASGIApp, *, max_body_bytes: int, body_timeout: float) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.body_timeout = body_timeout

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            body = await self._read(scope, receive)
            if body is None:  # the client went away
                return
            content_type = Headers(scope=scope).get("content-type")
            if len(body) > INLINE_CHECK_BYTES:  # parsing a large body would stall the loop
                await anyio.to_thread.run_sync(_check_content, content_type, body)
            else:
                _check_content(content_type, body)
        except Refusal as refusal:
            _log_refusal(scope, refusal)
            await send_problem(send, refusal, close=refusal.status in (408, 413))
            return
        try:
            await self.app(scope, _replay(body, receive), tracking)
        except Exception as exc:  # noqa: BLE001 - the last line before a client's screen
            reference = uuid.uuid4().hex[:12]
            log.error(
                "unexpected %s in %s %s (reference %s) at %s",
                type(exc).__name__,
                scope["method"],
                _route(scope),
                reference,
                " < ".join(_frames(exc)),
            )
            if not started:
                detail = f"internal error (reference {reference})"
                await send_problem(send, Refusal(500, detail))

    async def _read(self, scope: Scope, receive: Receive) -> bytes | None:
        declared = Headers(scope=scope).get("content-length")
        if declared is not None and not declared.strip().isdigit():
            raise Refusal(400, "Content-Length is not a number of bytes")
        if declared is not None and int(declared) > self.max_body_bytes:
            raise Refusal(413, f"the body is larger than {self.max_body_bytes} bytes")
        chunks: list[bytes] = []
        size = 0
        try:
            with anyio.fail_after(self.body_timeout):
                while True:
                    message = await receive()
                    if message["type"] == "http.disconnect":
                        return None
                    chunk = message.get("body", b"")
                    size += len(chunk)
                    if size > self.max_body_bytes:
                        raise Refusal(413, f"the body is larger than {self.max_body_bytes} bytes")
                    chunks.append(chunk)
                    if not message.get("more_body", False):
                        return b"".join(chunks)
        except TimeoutError:
            raise Refusal(
                408, f"the body did not arrive within {self.body_timeout:g} seconds"
            ) from None


def _check_content(content_type: str | None, body: bytes) -> None:
    if not body:
        return
    media = (content_type or "").split(";", 1)[0].strip().lower()
    # FastAPI reads an untyped body as JSON: it gets the JSON checks when it looks like JSON
    untyped_json = not media and body.lstrip(b" \t\r\n")[:1] in (b"{", b"[")
    if media == "application/json" or media.endswith("+json") or untyped_json:
        _check_json(body)
    elif media and not (media in ("application/xml", "text/xml") or media.endswith("+xml")):
        raise Refusal(415, f"send application/json or application/xml, not {media!r}")


def _check_json(body: bytes) -> None:
    if len(body) > MAX_APPLICATION_BYTES:
        raise Refusal(413, f"a JSON body is at most {MAX_APPLICATION_BYTES} bytes")
    start = body.lstrip(b" \t\r\n")[:1]
    if start and start[0] in _JSON_SCALAR_OR_ARRAY:
        raise Refusal(400, "the body must be a JSON object")
    try:
        document = read_object(body)
    except ApplicationRejected as exc:
        raise Refusal(400, _summary(exc.problems), exc.problems) from None
    if any(marker in body for marker in _MAY_HIDE_CONTROL) or may_hold_invisible_or_noncharacter(
        body
    ):
        problems = [Problem(json_path(loc), issue) for loc, issue in _control_characters(document)]
        if problems:
            raise Refusal(400, _summary(problems), problems)


def _control_characters(node: Any, loc: tuple[str | int, ...] = ()) -> Iterator[tuple[Any, str]]:
    # nesting is bounded by jsontext.MAX_DEPTH, so the recursion is too
    if isinstance(node, str):
        if (issue := check_text(node)) is not None:
            yield loc, issue
    elif isinstance(node, dict):
        for key, value in node.items():
            if (issue := check_text(key)) is not None:
                yield loc, f"a key: {issue}"
            yield from _control_characters(value, (*loc, key))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _control_characters(value, (*loc, i))


def _summary(problems: list[Problem]) -> str:
    first = problems[0]
    more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
    return f"{first.path + ': ' if first.path else ''}{first.message}{more}"


def _replay(body: bytes, receive: Receive) -> Receive:
    """The body read already, then the server's own messages (a disconnect)."""
    pending = True

    async def replay() -> Message:
        nonlocal pending
        if pending:
            pending = False
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


def _route(scope: Scope) -> str:
    route = scope.get("route")
    return getattr(route, "path_format", None) or _path(scope)


def _path(scope: Scope) -> str:
    return str(scope.get("path", ""))[:200]


def _frames(exc: BaseException) -> list[str]:
    """Where it was raised, innermost first: file, line and function, never values."""
    frames = traceback.extract_tb(exc.__traceback__)[-4:]
    return [f"{f.filename.rsplit('/', 2)[-1]}:{f.lineno} {f.name}" for f in reversed(frames)]


def _log_refusal(scope: Scope, refusal: Refusal) -> None:
    log.info("%s %s refused %d: %s", scope["method"], _path(scope), refusal.status, refusal.detail)
