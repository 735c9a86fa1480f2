"""Per-client rate limits: a burst, then the configured rate; over it, 429 with Retry-After."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from gateway.api.limits import RateLimiter
from gateway.store.testing import Backend
from signing import KeyDirectory
from tests.gateway.api.conftest import Api, probe_router, running_api


@pytest.fixture
def limited(db: Backend, keys: KeyDirectory) -> Iterator[Api]:
    with running_api(db, keys, routers=[probe_router()], api_rate=1.0, api_burst=3) as api:
        yield api


def test_over_the_burst_is_429_with_retry_after_then_served_again(limited: Api) -> None:
    client = limited.as_("operator")
    assert [client.get("/probe/whoami").status_code for _ in range(3)] == [200, 200, 200]
    over = client.get("/probe/whoami")
    assert over.status_code == 429, over.text
    assert over.json()["detail"].startswith("more than 1 requests a second (burst 3)")
    wait = int(over.headers["retry-after"])
    assert wait == 1  # one token a second: the next is at most a second away
    time.sleep(wait)
    assert client.get("/probe/whoami").status_code == 200


def test_each_client_has_its_own_bucket(limited: Api) -> None:
    greedy, other = limited.as_("platform"), limited.as_("platform")
    statuses = [greedy.get("/probe/whoami").status_code for _ in range(5)]
    assert statuses.count(429) >= 1
    assert other.get("/probe/whoami").status_code == 200


def test_refused_requests_count_too(limited: Api) -> None:
    """A client hammering a route it may not call is limited like any other."""
    agency = limited.as_("agency:HK-TD")
    statuses = [agency.post("/probe/cases/GBA-1/notes", json={}).status_code for _ in range(4)]
    assert statuses == [403, 403, 403, 429]


def test_a_rate_of_zero_is_no_limit(db: Backend, keys: KeyDirectory) -> None:
    with running_api(db, keys, routers=[probe_router()], api_rate=0, api_burst=1) as api:
        client = api.as_("operator")
        assert {client.get("/probe/whoami").status_code for _ in range(30)} == {200}


# --- the bucket itself, on a clock the test moves ----------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_the_bucket_refills_at_the_rate_and_never_above_the_burst() -> None:
    clock = Clock()
    limiter = RateLimiter(4.0, 2, clock=clock)
    assert [limiter.wait("a"), limiter.wait("a")] == [0.0, 0.0]
    assert limiter.wait("a") == pytest.approx(0.25)  # 4 a second: the next token in 1/4 s
    clock.now += 0.25
    assert limiter.wait("a") == 0.0
    clock.now += 60  # a long pause refills to the burst, not beyond
    assert [limiter.wait("a") for _ in range(3)][-1] == pytest.approx(0.25)
    assert limiter.wait("b") == 0.0  # another key starts full
