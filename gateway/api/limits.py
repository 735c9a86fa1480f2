"""Per-client rate limits: one token bucket per API client, in this process.

A client may send ``burst`` requests at once, then ``rate`` a second. The buckets live in the
api process, so with N ``gbagw api`` processes behind a balancer a client's effective limit is
N times the setting (docs/configuration.md). Keys are authenticated client ids only, so the
table is as small as the client list. A few lines here rather than a library: pyrate-limiter's
token bucket wants a limiter, a bucket factory and a leak thread for what is one subtraction.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable


class RateLimiter:
    """``rate`` requests a second per key after a ``burst``; ``rate`` 0 means no limit."""

    def __init__(
        self, rate: float, burst: int, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.rate = rate
        self.burst = max(burst, 1)
        self._clock = clock
        self._lock = threading.Lock()  # sync dependencies run on several threads
        #: key → (tokens left, when they were counted)
        self._buckets: dict[str, tuple[float, float]] = {}

    def wait(self, key: str) -> float:
        """Take a token for ``key``: 0.0 when granted, else the seconds until one is free."""
        if self.rate <= 0:
            return 0.0
        with self._lock:
            now = self._clock()
            tokens, then = self._buckets.get(key, (float(self.burst), now))
            tokens = min(float(self.burst), tokens + (now - then) * self.rate)
            if tokens >= 1.0:
                self._buckets[key] = (tokens - 1.0, now)
                return 0.0
            self._buckets[key] = (tokens, now)
            return (1.0 - tokens) / self.rate
