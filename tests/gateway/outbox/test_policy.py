"""Backoff: exponential, jittered within bounds, capped; bad policies refused."""

from __future__ import annotations

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.outbox import RetryPolicy


def test_nominal_delays_double_then_stop_at_the_cap() -> None:
    policy = RetryPolicy(base_delay=5, factor=2, cap=60, jitter=0.25)
    assert [policy.nominal_delay(n) for n in range(1, 7)] == [5, 10, 20, 40, 60, 60]
    assert policy.nominal_delay(5000) == 60  # no overflow far out


@given(
    attempt=st.integers(min_value=1, max_value=200),
    seed=st.integers(min_value=0, max_value=2**32),
    jitter=st.floats(min_value=0, max_value=0.99),
)
def test_jittered_delay_stays_within_its_bounds(attempt: int, seed: int, jitter: float) -> None:
    policy = RetryPolicy(base_delay=2, factor=3, cap=900, jitter=jitter)
    delay = policy.next_delay(attempt, random.Random(seed))
    nominal = policy.nominal_delay(attempt)
    assert nominal * (1 - jitter) - 1e-9 <= delay <= nominal <= 900


def test_jitter_spreads_a_backlog() -> None:
    policy = RetryPolicy(base_delay=10, jitter=0.5)
    rng = random.Random(7)
    delays = [policy.next_delay(3, rng) for _ in range(1000)]
    assert min(delays) < 22 and max(delays) > 38  # nominal 40: spread over [20, 40]
    assert len(set(delays)) > 900


@pytest.mark.parametrize(
    "kwargs",
    [
        {"base_delay": 0},
        {"factor": 0.5},
        {"cap": 1, "base_delay": 5},
        {"jitter": 1},
        {"max_attempts": 0},
    ],
)
def test_nonsense_policies_are_refused(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        RetryPolicy(**kwargs)  # type: ignore[arg-type]
