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
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import Generic, TypeVar

T = TypeVar("T")
R = TypeVar("R")


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
        limit: int = 64,
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
            answers = self.process([slot.item for slot in batch])
        except Exception as exc:
            if len(batch) == 1:
                batch[0].error = exc
                return
            for slot in batch:  # alone, each item fails or succeeds on its own
                self._run([slot])
            return
        except BaseException as exc:  # interrupted: nobody may wait for ever
            for slot in batch:
                slot.error = exc
            raise
        for slot, answer in zip(batch, answers, strict=True):
            slot.answer = answer
