"""How long to wait before the next attempt, when to give up, and when to pause an agency."""

from __future__ import annotations

import random
from dataclasses import dataclass


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff with jitter and a cap; a row goes dead after ``max_attempts``.

    The delay after failed attempt ``n`` (1-based) is ``min(cap, base * factor ** (n - 1))``
    shortened by a random fraction of up to ``jitter``: never above the cap, never below
    ``(1 - jitter)`` of the nominal delay. Jitter spreads the retries of a backlog that failed
    together (an agency outage) so they do not all return in the same second.
    """

    base_delay: float = 5.0
    factor: float = 2.0
    cap: float = 900.0
    jitter: float = 0.25
    max_attempts: int = 10

    def __post_init__(self) -> None:
        if self.base_delay <= 0 or self.factor < 1 or self.cap < self.base_delay:
            raise ValueError("need base_delay > 0, factor >= 1, cap >= base_delay")
        if not 0 <= self.jitter < 1 or self.max_attempts < 1:
            raise ValueError("need 0 <= jitter < 1 and max_attempts >= 1")

    def nominal_delay(self, attempt: int) -> float:
        """The delay before jitter after failed attempt ``attempt`` (1-based)."""
        if attempt < 1:
            raise ValueError("attempts are numbered from 1")
        exponent = min(attempt - 1, 64)  # cap the exponent: no float overflow at attempt 2000
        return min(self.cap, self.base_delay * self.factor**exponent)

    def next_delay(self, attempt: int, rng: random.Random | None = None) -> float:
        """Seconds to wait after failed attempt ``attempt``, jittered by ``rng``."""
        draw = (rng or random).random()
        return self.nominal_delay(attempt) * (1.0 - self.jitter * draw)


@dataclass(frozen=True)
class BreakerPolicy:
    """``threshold`` consecutive retryable failures open a destination's breaker for
    ``cooldown`` seconds; then one probe is let through, and its outcome closes or reopens it.
    """

    threshold: int = 5
    cooldown: float = 60.0

    def __post_init__(self) -> None:
        if self.threshold < 1 or self.cooldown <= 0:
            raise ValueError("need threshold >= 1 and cooldown > 0")
