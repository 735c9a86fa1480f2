"""Group commit: callers' items that arrive while a batch is being written go in the next one.

A caller that finds no batch running writes every item waiting (its own among them, at most
``limit``); the others wait for their answers. Alone, a caller waits for nobody; under load,
one transaction serves many callers. A batch that fails is tried again item by item, so one
bad item fails only its own caller.

When a batch ends, its callers come back nearly together (each with its next item), and the
first would otherwise start a batch of one while the rest queue behind it. So, like
PostgreSQL's ``commit_delay``, a caller that finds fewer items waiting than the last batch had,
plus one (so batches can grow to the number of callers), waits up to ``linger`` seconds for
them; after a batch of one (no concurrency) nobody waits.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import Generic, TypeVar

T = TypeVar("T")
R = TypeVar("R")


class _Slot(Generic[T, R]):
    __slots__ = ("item", "done", "answer", "error")

    def __init__(self, item: T):
        self.item = item
        self.done = False
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
        self._ready = threading.Condition()
        self._waiting: list[_Slot[T, R]] = []
        self._busy = False
        self._last = 1  # the size of the last batch

    def submit(self, item: T) -> R:
        """``process``'s answer for ``item``, processed in a batch with whatever else waits."""
        slot: _Slot[T, R] = _Slot(item)
        lingered = False
        with self._ready:
            self._waiting.append(slot)
            if len(self._waiting) == self._wanted():
                self._ready.notify_all()  # a lingering caller's batch is complete
            while not slot.done:
                if self._busy:
                    self._ready.wait()
                    continue
                if not lingered and len(self._waiting) < self._wanted():
                    lingered = True
                    self._ready.wait(self.linger)
                    continue
                self._busy = True
                batch = self._waiting[: self.limit]
                del self._waiting[: self.limit]
                self._last = len(batch)
                self._ready.release()
                try:
                    self._run(batch)
                finally:
                    self._ready.acquire()
                    self._busy = False
                    self._ready.notify_all()
        if slot.error is not None:
            raise slot.error
        return slot.answer  # type: ignore[return-value]

    def _wanted(self) -> int:
        """How many waiting items are worth lingering for."""
        return 1 if self._last == 1 else min(self._last + 1, self.limit)

    def _run(self, batch: list[_Slot[T, R]]) -> None:
        try:
            answers = self.process([slot.item for slot in batch])
        except Exception as exc:
            if len(batch) == 1:
                batch[0].error, batch[0].done = exc, True
                return
            for slot in batch:  # alone, each item fails or succeeds on its own
                self._run([slot])
            return
        except BaseException as exc:  # interrupted: nobody may wait for ever
            for slot in batch:
                slot.error, slot.done = exc, True
            raise
        for slot, answer in zip(batch, answers, strict=True):
            slot.answer, slot.done = answer, True
