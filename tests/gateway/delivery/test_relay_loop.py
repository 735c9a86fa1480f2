"""The relay's pace: a full batch is followed by another look at once, anything less waits
``relay_interval`` (a busy relay used to spin on batches of one or two rows)."""

from __future__ import annotations

import threading
import time
from types import SimpleNamespace
from typing import Any

import pytest

from gateway.delivery import relay


def test_only_a_full_batch_is_followed_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    stop = threading.Event()
    batches = [relay.RELAY_BATCH, relay.RELAY_BATCH, 3, 0]
    looked: list[float] = []

    def relay_once(runtime: Any, publish: Any) -> int:
        looked.append(time.monotonic())
        if len(looked) == len(batches):
            stop.set()
        return batches[len(looked) - 1]

    monkeypatch.setattr(relay, "relay_once", relay_once)
    runtime = SimpleNamespace(settings=SimpleNamespace(relay_interval=0.3))
    worker = threading.Thread(target=relay.run_relay, args=(runtime, print, stop))
    worker.start()
    worker.join(timeout=10)
    assert not worker.is_alive() and len(looked) == len(batches)
    gaps = [b - a for a, b in zip(looked, looked[1:], strict=False)]
    assert gaps[0] < 0.2 and gaps[1] < 0.2  # more may be due: at once
    assert gaps[2] >= 0.29  # caught up: the interval
