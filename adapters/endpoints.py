"""What both transports agree on about HTTP: which endpoint URLs are usable, and which HTTP
errors retrying cannot cure.

A malformed or unsupported URL (no scheme, ``ftp://``, no host) is a configuration error: it is
:attr:`~gateway.ports.Outcome.PERMANENT`, so the outbox does not retry it for ever. A client is
still built for such a URL (``connect`` never raises), and every call answers PERMANENT at once,
naming the problem, without touching the network.
"""

from __future__ import annotations

import functools
import ssl

import httpx

from gateway.ports import Outcome

SCHEMES = frozenset({"http", "https"})

#: httpx errors that come from our request, not from the agency or the network
PERMANENT_ERRORS: tuple[type[Exception], ...] = (
    httpx.UnsupportedProtocol,
    httpx.InvalidURL,
    httpx.LocalProtocolError,
)


def endpoint_problem(url: str) -> str | None:
    """Why ``url`` cannot be an agency endpoint, or None when it can (http(s) with a host)."""
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, TypeError) as exc:
        return f"invalid endpoint URL: {exc}"
    if not parsed.scheme:
        return "invalid endpoint URL: no scheme (expected http:// or https://)"
    if parsed.scheme not in SCHEMES:
        return f"unsupported endpoint URL scheme {parsed.scheme!r} (expected http or https)"
    if not parsed.host:
        return "invalid endpoint URL: no host"
    return None


def describe(exc: Exception) -> str:
    """The exception class and its short message: never a URL query or a body."""
    return f"{type(exc).__name__}: {exc}"


def outcome_of(exc: Exception) -> Outcome:
    """PERMANENT for a request we built wrong; RETRYABLE for the network and timeouts."""
    return Outcome.PERMANENT if isinstance(exc, PERMANENT_ERRORS) else Outcome.RETRYABLE


def client(
    timeout: float,
    transport: httpx.BaseTransport | None,
    headers: dict[str, str] | None = None,
) -> httpx.Client:
    """The one way both transports build their ``httpx.Client``: explicit timeouts, no
    redirects, and ``transport`` swappable (``httpx.MockTransport`` in tests)."""
    return httpx.Client(
        timeout=httpx.Timeout(timeout, connect=min(timeout, 5.0)),
        headers=headers,
        follow_redirects=False,
        transport=transport,
        verify=_tls(),
    )


@functools.cache
def _tls() -> ssl.SSLContext:
    """httpx's default TLS context (the CA bundle, verification on), made once per process:
    each new one reads the bundle again (~20 ms, most of a client's construction, and a
    worker builds a client per agency in every pool process)."""
    return httpx.create_ssl_context()
