"""Test helpers for the inbound path, without any test framework imported: a case filed under
a chosen reference and agency, and an :class:`Inbound` that records what it was handed."""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from lxml import etree
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from gateway.domain import StatusReport
from gateway.inbound.receive import Inbound, Received
from gateway.registry import format_for_namespace
from gateway.store import file_case, transaction
from gateway.store.tables import AgencyEvent, Case
from gateway.store.testing import filing, migrated_backend
from signing import TrustStore, parse_untrusted


def file_case_for(
    sessions: sessionmaker[Session],
    case_ref: str,
    agency: str,
    *,
    region: str = "HK",
    now: dt.datetime | None = None,
) -> str:
    """File a case ``case_ref`` routed to ``agency`` (a bundled mapping of ``region``)."""
    n = int(case_ref.removeprefix("GBA-"), 16) % 10**15
    values = {**filing(n, agency=agency, region=region), "case_ref": case_ref}
    with transaction(sessions) as session:
        ref, _ = file_case(session, **values, now=now or dt.datetime.now(dt.UTC))
    return ref


def case_state(sessions: sessionmaker[Session], case_ref: str) -> tuple[str, list[int]]:
    """The case's state and the agency sequences stored for it."""
    with transaction(sessions, read_only=True) as session:
        state = session.scalar(select(Case.state).where(Case.case_ref == case_ref))
        seqs = session.scalars(
            select(AgencyEvent.seq)
            .where(AgencyEvent.case_ref == case_ref)
            .order_by(AgencyEvent.seq)
        ).all()
    return str(state), list(seqs)


class RecordingInbound(Inbound):
    """The real inbound path, recording every body it answered and the reports it took
    (``accepted``, in arrival order, duplicates included); ``fail_first`` calls raise as a
    broken store would."""

    def __init__(
        self, sessions: sessionmaker[Session], trust: TrustStore, *, fail_first: int = 0, **kw: Any
    ):
        super().__init__(sessions, trust, **kw)
        self.accepted: list[tuple[StatusReport, bytes]] = []
        self.refused: list[Received] = []
        self._fail = fail_first
        self._lock = threading.Lock()

    def receive_pushed(
        self, body: bytes, *, pushed_by: str | None = None, now: dt.datetime | None = None
    ) -> Received:
        self._maybe_fail()
        return self._record(body, super().receive_pushed(body, pushed_by=pushed_by, now=now))

    async def receive_pushed_async(
        self, body: bytes, *, pushed_by: str | None = None, now: dt.datetime | None = None
    ) -> Received:
        self._maybe_fail()
        received = await super().receive_pushed_async(body, pushed_by=pushed_by, now=now)
        return self._record(body, received)

    def _maybe_fail(self) -> None:
        with self._lock:
            if self._fail:
                self._fail -= 1
                raise RuntimeError("store down")

    def _record(self, body: bytes, received: Received) -> Received:
        with self._lock:
            if received.quarantined is None:
                root = parse_untrusted(body)  # comments dropped, as the verifier reads it
                fmt = format_for_namespace(etree.QName(root).namespace or "")
                assert fmt is not None
                self.accepted.append((fmt.parse_status(root), body))
            else:
                self.refused.append(received)
        return received

    def seqs(self, case_ref: str) -> list[int]:
        with self._lock:
            return [
                e.seq for r, _ in self.accepted if r.header.case_ref == case_ref for e in r.events
            ]


@contextmanager
def recording_inbound(directory: Path, trust: TrustStore, **kw: Any) -> Iterator[RecordingInbound]:
    """A :class:`RecordingInbound` over a fresh SQLite store in ``directory``."""
    with migrated_backend("sqlite", directory) as backend:
        yield RecordingInbound(backend.factory, trust, **kw)


def recording_answers(
    app: Any, answered: Callable[[int, bytes], None], path: str | None = None
) -> Any:
    """The ASGI ``app``, handing ``answered`` the status and whole body of each answer it
    gives (to requests for ``path`` only, when one is given)."""

    async def wrapped(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or (path is not None and scope["path"] != path):
            await app(scope, receive, send)
            return
        status: list[int] = []
        body: list[bytes] = []

        async def record(message: Any) -> None:
            if message["type"] == "http.response.start":
                status.append(message["status"])
            elif message["type"] == "http.response.body":
                body.append(message.get("body", b""))
                if not message.get("more_body"):
                    answered(status[0], b"".join(body))
            await send(message)

        await app(scope, receive, record)

    return wrapped
