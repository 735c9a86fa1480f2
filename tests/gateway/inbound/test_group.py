"""Group commit: concurrent callers share batches, a bad item fails only its caller, and a
caller alone never waits for company; callers on an event loop likewise, through one thread."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

import pytest

from gateway.inbound.group import GroupCommit, LoopGroupCommit


class Recorder:
    """Doubles each item, slowly (as a database round trip would be), recording batches."""

    def __init__(self, delay: float = 0.02):
        self.delay = delay
        self.batches: list[list[int]] = []
        self._lock = threading.Lock()

    def __call__(self, items: Sequence[int]) -> list[int]:
        with self._lock:
            self.batches.append(list(items))
        if any(item < 0 for item in items):
            raise ValueError(f"negative item among {list(items)}")
        time.sleep(self.delay)
        return [2 * item for item in items]


def test_concurrent_callers_share_batches_and_each_gets_its_own_answer() -> None:
    recorder = Recorder()
    group = GroupCommit(recorder, limit=16)
    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(group.submit, range(200)))
    assert answers == [2 * n for n in range(200)]
    assert sorted(n for batch in recorder.batches for n in batch) == list(range(200))
    assert max(len(batch) for batch in recorder.batches) > 1
    assert len(recorder.batches) < 100  # most of 200 items went in company
    assert all(len(batch) <= 16 for batch in recorder.batches)


def test_a_failing_item_fails_its_own_caller_only() -> None:
    recorder = Recorder()
    group = GroupCommit(recorder)
    start = threading.Barrier(6)

    def submit(item: int) -> int | str:
        start.wait()
        try:
            return group.submit(item)
        except ValueError as exc:
            return str(exc)

    with ThreadPoolExecutor(6) as pool:
        answers = list(pool.map(submit, [1, 2, -3, 4, 5, 6]))
    assert answers[:2] == [2, 4] and answers[3:] == [8, 10, 12]
    assert answers[2] == "negative item among [-3]"  # tried alone after its batch failed


def test_a_caller_alone_does_not_wait_for_company() -> None:
    group = GroupCommit(Recorder(delay=0), linger=30.0)  # lingering would time the test out
    started = time.perf_counter()
    assert [group.submit(n) for n in range(20)] == [2 * n for n in range(20)]
    assert time.perf_counter() - started < 5


def test_after_a_busy_batch_a_caller_lingers_at_most_the_linger_time() -> None:
    recorder = Recorder(delay=0.05)
    group = GroupCommit(recorder, linger=0.2)
    with ThreadPoolExecutor(4) as pool:
        assert list(pool.map(group.submit, range(12))) == [2 * n for n in range(12)]
    started = time.perf_counter()
    assert group.submit(100) == 200  # alone now: waits for company that never comes, once
    assert time.perf_counter() - started < 2
    assert recorder.batches[-1] == [100]


def test_an_interrupt_reaches_the_waiting_callers() -> None:
    def interrupted(items: Sequence[int]) -> list[int]:
        raise KeyboardInterrupt

    group: GroupCommit[int, int] = GroupCommit(interrupted)
    with pytest.raises(KeyboardInterrupt):
        group.submit(1)


def test_a_lingering_leader_goes_as_soon_as_its_batch_is_complete() -> None:
    recorder = Recorder(delay=0.3)  # the first batch runs while the others queue
    group = GroupCommit(recorder, linger=30.0)  # lingering to the end would time the test out

    def together(items: list[int]) -> list[int]:
        start = threading.Barrier(len(items))

        def submit(item: int) -> int:
            start.wait()
            if item != items[0]:
                time.sleep(0.05)  # the first one leads
            return group.submit(item)

        with ThreadPoolExecutor(len(items)) as pool:
            return list(pool.map(submit, items))

    assert together([0, 1, 2, 3, 4, 5]) == [0, 2, 4, 6, 8, 10]
    assert [sorted(batch) for batch in recorder.batches] == [[0], [1, 2, 3, 4, 5]]
    recorder.delay = 0
    started = time.perf_counter()
    assert together([10, 11, 12, 13, 14, 15]) == [20, 22, 24, 26, 28, 30]
    assert time.perf_counter() - started < 5
    assert sorted(recorder.batches[-1]) == [10, 11, 12, 13, 14, 15]  # it waited for all six


# --- callers on an event loop ------------------------------------------------------------------


def _gathered(group: LoopGroupCommit[int, int], items: Sequence[int]) -> list[int | str]:
    """Every item submitted at once from one event loop; a ValueError as its text."""

    async def one(item: int) -> int | str:
        try:
            return await group.submit(item)
        except ValueError as exc:
            return str(exc)

    async def every() -> list[int | str]:
        return list(await asyncio.gather(*(one(item) for item in items)))

    return asyncio.run(every())


def test_loop_callers_share_batches_and_each_gets_its_own_answer() -> None:
    recorder = Recorder()
    group = LoopGroupCommit(recorder, limit=16, idle=0.05)
    assert _gathered(group, range(200)) == [2 * n for n in range(200)]
    assert sorted(n for batch in recorder.batches for n in batch) == list(range(200))
    assert len(recorder.batches) < 30  # the first alone, then batches of up to 16
    assert all(len(batch) <= 16 for batch in recorder.batches)
    # one thread did all of it, and it is gone once idle
    time.sleep(0.5)
    assert not any(t.name == "group-commit" and t.is_alive() for t in threading.enumerate())


def test_a_failing_item_fails_its_own_loop_caller_only() -> None:
    recorder = Recorder()
    group = LoopGroupCommit(recorder)
    assert _gathered(group, [1, 2, -3, 4]) == [2, 4, "negative item among [-3]", 8]


def test_loop_callers_from_two_loops_are_answered_on_their_own() -> None:
    group = LoopGroupCommit(Recorder(delay=0.05), idle=5.0)  # one thread serves both loops
    with ThreadPoolExecutor(2) as pool:
        first = pool.submit(_gathered, group, range(0, 40))
        second = pool.submit(_gathered, group, range(100, 140))
        assert first.result() == [2 * n for n in range(0, 40)]
        assert second.result() == [2 * n for n in range(100, 140)]


def test_a_cancelled_loop_caller_leaves_the_others_answered() -> None:
    recorder = Recorder(delay=0.2)
    group = LoopGroupCommit(recorder)

    async def run() -> list[int]:
        first = asyncio.ensure_future(group.submit(1))
        await asyncio.sleep(0.05)  # item 1 is in its batch now
        others = [asyncio.ensure_future(group.submit(n)) for n in (2, 3)]
        first.cancel()
        return list(await asyncio.gather(*others))

    assert asyncio.run(run()) == [4, 6]
    assert [1] in recorder.batches  # the cancelled caller's item was still processed


def test_an_interrupt_reaches_the_waiting_loop_callers_and_work_goes_on() -> None:
    interrupt = [True]

    def sometimes_interrupted(items: Sequence[int]) -> list[int]:
        if interrupt and interrupt.pop():
            raise KeyboardInterrupt
        return [2 * item for item in items]

    group: LoopGroupCommit[int, int] = LoopGroupCommit(sometimes_interrupted)

    async def run() -> int:
        with pytest.raises(KeyboardInterrupt):
            await group.submit(1)
        return await group.submit(2)  # a new thread takes the work

    assert asyncio.run(run()) == 4
