"""Group commit: callers' items that arrive while a batch is being written go in the next one.

A caller that finds no batch running leads: it writes every item waiting (its own first, at
most ``limit``); the others wait for their answers. Alone, a caller waits for nobody; under
load, one transaction serves many callers. A batch that fails is tried again item by item, so
one bad item fails only its own caller.

When a batch ends, its callers come back nearly together (each with its next item), and the
first would otherwise start a batch of one while the rest queue behind it. So, like
PostgreSQL's ``commit_delay``, a leader that finds fewer items waiting than the last batch had,
plus one (so batches can grow to the number of callers), waits up to ``linger`` seconds for
them; after a batch of one (no concurrency) nobody waits.

Each caller sleeps on its own lock and is woken once: for its answer, or to lead the next
batch. Waking every waiting thread at each change (one shared condition) cost ~100 µs of CPU
per item with 64 callers, as they all fought for the GIL to go back to sleep.

Callers on an event loop (the push receiver's route) use :class:`LoopGroupCommit` instead: one
thread writes the batches and the callers await futures, so no thread is parked per item.
With 64 pushes at once, a thread per push (the route's thread pool) cost ~120–150 µs of CPU a
notice in thread switches, ~15 % of storing and applying it (measured in one run: 64 threads
0.44–0.48 of verify-only, one event loop 0.54–0.55, one thread calling the batch 0.54).
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Sequence
from typing import Any, Generic, TypeVar

T = TypeVar("T")
R = TypeVar("R")

#: the most items a batch takes; more wait for the next
BATCH_LIMIT = 64


class _Slot(Generic[T, R]):
    __slots__ = ("item", "wake", "lead", "answer", "error")

    def __init__(self, item: T):
        self.item = item
        self.wake = threading.Lock()
        self.wake.acquire()  # released once: answered, or made the leader
        self.lead = False
        self.answer: R | None = None
        self.error: BaseException | None = None


class GroupCommit(Generic[T, R]):
    def __init__(
        self,
        process: Callable[[Sequence[T]], Sequence[R]],
        *,
        limit: int = BATCH_LIMIT,
        linger: float = 0.002,
    ):
        self.process = process
        self.limit = limit
        self.linger = linger
        self._lock = threading.Lock()
        self._waiting: list[_Slot[T, R]] = []
        self._led = False  # a caller leads: lingering or processing (none: nothing waits)
        self._lingerer: _Slot[T, R] | None = None
        self._last = 1  # the size of the last batch

    def submit(self, item: T) -> R:
        """``process``'s answer for ``item``, processed in a batch with whatever else waits."""
        slot: _Slot[T, R] = _Slot(item)
        with self._lock:
            self._waiting.append(slot)
            if not self._led:
                self._led = slot.lead = True
            elif self._lingerer is not None and len(self._waiting) >= self._wanted():
                self._lingerer.wake.release()  # its batch is complete
                self._lingerer = None
        if not slot.lead:
            slot.wake.acquire()
        if slot.lead:
            self._lead(slot)
        if slot.error is not None:
            raise slot.error
        return slot.answer  # type: ignore[return-value]

    def _wanted(self) -> int:
        """How many waiting items are worth lingering for."""
        return 1 if self._last == 1 else min(self._last + 1, self.limit)

    def _lead(self, slot: _Slot[T, R]) -> None:
        """Linger if company is due, process one batch (``slot``'s among it), hand over."""
        with self._lock:
            linger = len(self._waiting) < self._wanted()
            if linger:
                self._lingerer = slot
        if linger:
            woken = slot.wake.acquire(timeout=self.linger)
            with self._lock:
                if self._lingerer is slot:  # timed out, nobody woke it
                    self._lingerer = None
                elif not woken:  # woken just after the timeout: take the release back
                    slot.wake.acquire()
        with self._lock:
            batch = self._waiting[: self.limit]
            del self._waiting[: self.limit]
        self._last = len(batch)
        try:
            self._run(batch)
        finally:
            with self._lock:
                if self._waiting:
                    successor = self._waiting[0]
                    successor.lead = True
                    successor.wake.release()
                else:
                    self._led = False
            for other in batch:
                if other is not slot:
                    other.wake.release()

    def _run(self, batch: list[_Slot[T, R]]) -> None:
        try:
            results = outcomes(self.process, [slot.item for slot in batch])
        except BaseException as exc:  # interrupted: nobody may wait for ever
            for slot in batch:
                slot.error = exc
            raise
        for slot, (answer, error) in zip(batch, results, strict=True):
            slot.answer, slot.error = answer, error


def outcomes(
    process: Callable[[Sequence[T]], Sequence[R]], items: Sequence[T]
) -> list[tuple[R | None, Exception | None]]:
    """``process``'s answer or error for each of ``items``: a batch that fails is tried again
    item by item, so one bad item fails only itself."""
    try:
        answers = process(items)
    except Exception as exc:
        if len(items) == 1:
            return [(None, exc)]
        return [result for item in items for result in outcomes(process, [item])]
    return [(answer, None) for answer in answers]


class LoopGroupCommit(Generic[T, R]):
    """Group commit for callers on event loops: items wait in a queue, one thread processes
    them in batches (started at the first item, gone once nothing came for ``idle``) and
    settles each caller's future on its own loop, all of a batch's in one callback.

    Items that arrive while a batch runs go in the next. As in :class:`GroupCommit`, after a
    batch of more than one the thread waits up to ``linger`` for as many items as it had plus
    one: the callers it just answered come back one after another, not at once."""

    def __init__(
        self,
        process: Callable[[Sequence[T]], Sequence[R]],
        *,
        limit: int = BATCH_LIMIT,
        linger: float = 0.002,
        idle: float = 1.0,
    ):
        self.process = process
        self.limit = limit
        self.linger = linger
        self.idle = idle
        self._ready = threading.Condition()
        self._idle = False  # the thread waits for work, not for company
        self._queue: list[tuple[T, asyncio.Future[R], asyncio.AbstractEventLoop]] = []
        self._working = False
        self._last = 1

    async def submit(self, item: T) -> R:
        """``process``'s answer for ``item``, processed in a batch with whatever else waits.
        A cancelled caller's item is still processed: it may already be in a batch."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[R] = loop.create_future()
        with self._ready:
            self._queue.append((item, future, loop))
            if not self._working:
                self._working = True
                self._start()
            elif self._idle or len(self._queue) >= self._wanted():
                self._ready.notify()
        return await future

    def _wanted(self) -> int:
        return 1 if self._last == 1 else min(self._last + 1, self.limit)

    def _start(self) -> None:
        threading.Thread(target=self._work, name="group-commit", daemon=True).start()

    def _work(self) -> None:
        batch: list[tuple[T, asyncio.Future[R], asyncio.AbstractEventLoop]] = []
        try:
            while True:
                with self._ready:
                    if len(self._queue) < self._wanted():
                        self._ready.wait(self.linger)
                    if not self._queue:  # a pause: the next item goes alone, at once
                        self._last, self._idle = 1, True
                        self._ready.wait(self.idle)
                        self._idle = False
                        if not self._queue:
                            self._working = False
                            return
                    batch = self._queue[: self.limit]
                    del self._queue[: self.limit]
                self._last = len(batch)
                results = outcomes(self.process, [item for item, _, _ in batch])
                _settle_all(
                    [(f, loop, a, e) for (_, f, loop), (a, e) in zip(batch, results, strict=True)]
                )
        except BaseException as exc:  # interrupted: its callers get it, a new thread goes on
            _settle_all([(f, loop, None, exc) for _, f, loop in batch])
            with self._ready:
                if self._queue:
                    self._start()
                else:
                    self._working = False


_Outcome = tuple["asyncio.Future[Any]", asyncio.AbstractEventLoop, Any, BaseException | None]


def _settle_all(results: list[_Outcome]) -> None:
    """Each future's answer or error, set on its own loop: one wake-up a loop."""
    by_loop: dict[asyncio.AbstractEventLoop, list[_Outcome]] = {}
    for result in results:
        by_loop.setdefault(result[1], []).append(result)
    for loop, settled in by_loop.items():
        try:
            loop.call_soon_threadsafe(_settle, settled)
        except RuntimeError:  # the loop is closed: nobody awaits these any more
            pass


def _settle(results: list[_Outcome]) -> None:
    for future, _, answer, error in results:
        if future.done():  # cancelled by its caller (or settled before an interrupt)
            continue
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(answer)
