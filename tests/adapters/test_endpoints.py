"""Both clients alike: an unusable endpoint URL is PERMANENT, the HTTP transport is injectable,
and which HTTP errors are worth retrying (``adapters.endpoints``)."""

from __future__ import annotations

import ssl
from collections.abc import Callable

import httpx
import pytest

from adapters import endpoints
from adapters.endpoints import endpoint_problem, outcome_of
from gateway.devkit.examples import bundled_examples
from gateway.ports import AgencyCallFailed, Outcome
from gateway.registry import client_factory
from gateway.render.pipeline import Rendered
from signing import KeyDirectory

RenderExample = Callable[..., Rendered]
EXAMPLE = {"HK": "northbound-vehicle-hk", "MO": "northbound-vehicle-mo"}
AGENCY = {"HK": "HK-TD", "MO": "MO-DSAT"}
BAD_URLS = {
    "notaurl": "no scheme",
    "agency.example/cbce": "no scheme",
    "ftp://agency.example/sip": "'ftp'",
    "file:///etc/passwd": "'file'",
    "http://": "no host",
    "https:///sip": "no host",
    "http://[::1": "invalid endpoint URL",
}


def test_the_bundled_examples_exist() -> None:
    assert {p.stem for p in bundled_examples()} >= set(EXAMPLE.values())


@pytest.mark.parametrize("url", ["http://127.0.0.1:9", "https://agency.example/sip/", "HTTP://A"])
def test_http_and_https_with_a_host_are_endpoints(url: str) -> None:
    assert endpoint_problem(url) is None


@pytest.mark.parametrize(("url", "reason"), BAD_URLS.items())
def test_a_malformed_or_unsupported_url_is_named(url: str, reason: str) -> None:
    problem = endpoint_problem(url)
    assert problem is not None and reason in problem


@pytest.mark.parametrize("region", ["HK", "MO"])
@pytest.mark.parametrize(("url", "reason"), BAD_URLS.items())
def test_a_bad_url_is_permanent_for_every_call_and_touches_no_network(
    region: str, url: str, reason: str, keys: KeyDirectory, render_example: RenderExample
) -> None:
    """``gbagw send --url notaurl`` was reported RETRYABLE: the outbox would retry for ever."""
    calls: list[httpx.Request] = []

    def network(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        return httpx.Response(503)

    rendered = render_example(EXAMPLE[region])
    client = client_factory(region)(
        url,
        keys.trust_store(),
        agency=rendered.case.agency,
        timeout=1.0,
        transport=httpx.MockTransport(network),
    )
    with client:
        result = client.submit(rendered.to_bytes())
        supplement = client.send_supplement(rendered.case.case_ref, rendered.to_bytes())
        with pytest.raises(AgencyCallFailed) as failed:
            client.fetch_status(rendered.case.case_ref)
    assert result.outcome is Outcome.PERMANENT and reason in result.detail
    assert supplement.outcome is Outcome.PERMANENT
    assert failed.value.outcome is Outcome.PERMANENT and reason in failed.value.result.detail
    assert calls == []


@pytest.mark.parametrize("region", ["HK", "MO"])
@pytest.mark.parametrize(
    ("error", "outcome"),
    [
        (httpx.ConnectError("refused"), Outcome.RETRYABLE),
        (httpx.ReadTimeout("slow"), Outcome.RETRYABLE),
        (httpx.RemoteProtocolError("garbled"), Outcome.RETRYABLE),
        (httpx.UnsupportedProtocol("gopher"), Outcome.PERMANENT),
        (httpx.LocalProtocolError("bad header"), Outcome.PERMANENT),
        (httpx.InvalidURL("bad"), Outcome.PERMANENT),
    ],
    ids=lambda value: type(value).__name__ if isinstance(value, Exception) else str(value),
)
def test_transport_errors_through_the_injected_transport(
    region: str,
    error: Exception,
    outcome: Outcome,
    keys: KeyDirectory,
    render_example: RenderExample,
) -> None:
    def fail(request: httpx.Request) -> httpx.Response:
        raise error

    rendered = render_example(EXAMPLE[region])
    with client_factory(region)(
        "http://agency.test/sip",
        keys.trust_store(),
        agency=rendered.case.agency,
        timeout=1.0,
        transport=httpx.MockTransport(fail),
    ) as client:
        result = client.submit(rendered.to_bytes())
        with pytest.raises(AgencyCallFailed) as failed:
            client.fetch_status(rendered.case.case_ref)
    assert result.outcome is outcome, result.detail
    assert failed.value.outcome is outcome
    assert outcome_of(error) is outcome


@pytest.mark.parametrize("region", ["HK", "MO"])
def test_the_injected_transport_carries_every_request(
    region: str, keys: KeyDirectory, render_example: RenderExample
) -> None:
    seen: list[httpx.Request] = []

    def unavailable(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(503, content=b"busy", headers={"Content-Type": "text/plain"})

    rendered = render_example(EXAMPLE[region])
    with client_factory(region)(
        "http://agency.test/base",
        keys.trust_store(),
        agency=AGENCY[region],
        timeout=1.0,
        transport=httpx.MockTransport(unavailable),
    ) as client:
        result = client.submit(rendered.to_bytes())
    assert result.outcome is Outcome.RETRYABLE and "503" in result.detail
    (request,) = seen
    assert request.method == "POST" and request.url.host == "agency.test"
    assert request.url.path.startswith("/base")


def test_clients_share_one_verifying_tls_context() -> None:
    """Reading the CA bundle is most of a client's construction: one context per process,
    still verifying certificates and host names."""
    first, second = endpoints.client(5.0, None), endpoints.client(10.0, None)
    try:
        contexts = [c._transport._pool._ssl_context for c in (first, second)]  # type: ignore[attr-defined]
        assert contexts[0] is contexts[1]
        assert contexts[0].verify_mode == ssl.CERT_REQUIRED and contexts[0].check_hostname
    finally:
        first.close()
        second.close()
