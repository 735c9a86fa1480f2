"""Pushes stored and applied together (group commit) end exactly as the same pushes one at a
time: the same answers, the same case histories, notifications and quarantine — on SQLite and
PostgreSQL, with real signatures. And two receivers (two API workers) pushing at once, the
same bytes or the same cases, neither lose nor double anything, nor deadlock."""

from __future__ import annotations

import datetime as dt
import random
import re
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from gateway.inbound.receive import Inbound, Push, Received
from gateway.inbound.testing import case_state, file_case_for
from gateway.store import transaction
from gateway.store.tables import AgencyEvent, CaseEvent, Message, Outbox, SupplementRequest
from gateway.store.testing import Backend
from signing import KeyDirectory
from tests.gateway.inbound.test_receive import notice

NOW = dt.datetime(2026, 3, 3, 2, 0, tzinfo=dt.UTC)


def scenario(keys: KeyDirectory, stranger: KeyDirectory, ref: Callable[[int], str], tag: int):
    """Pushes over three cases of one side (``ref(n)``), ``tag`` keeping message ids apart:
    a case's notices out of order with a gap, an INFO_REQUIRED, a repeat inside the batch; a
    wrong key, an unknown case, a case of another agency, a sequence too large, and one
    message id used twice with other content."""

    def mid(n: int) -> str:
        return f"00000000-0000-4000-8000-{tag:04d}{n:08d}"

    a, b, c = ref(1), ref(2), ref(3)
    cr = "HK-CR"
    first = notice(keys, 2, "ACCEPTED", case_ref=a, message_id=mid(1))
    return [
        Push(first, "HK-TD", NOW),
        Push(notice(keys, 1, "RECEIVED", case_ref=a, message_id=mid(2)), "HK-TD", NOW),
        Push(first, "HK-TD", NOW),  # the same bytes again, in the same batch
        Push(notice(keys, 3, "INFO_REQUIRED", case_ref=a, message_id=mid(3)), "HK-TD", NOW),
        Push(notice(keys, 5, "COMPLETED", case_ref=b, message_id=mid(4)), "HK-TD", NOW),
        Push(notice(keys, 1, "RECEIVED", case_ref=b, message_id=mid(5)), "HK-TD", NOW),
        Push(notice(keys, 4, "APPROVED", case_ref=b, message_id=mid(6)), "HK-TD", NOW),
        Push(
            notice(keys, 1, "RECEIVED", case_ref=c, signer=stranger, message_id=mid(7)), None, NOW
        ),
        Push(notice(keys, 1, "RECEIVED", case_ref=ref(9), message_id=mid(8)), "HK-TD", NOW),
        Push(notice(keys, 1, "RECEIVED", case_ref=c, sender=cr, message_id=mid(9)), None, NOW),
        Push(notice(keys, 2, "ACCEPTED", case_ref=c, sender=cr, message_id=mid(10)), "HK-TD", NOW),
        Push(notice(keys, 2**31, "IN_PROGRESS", case_ref=c, message_id=mid(11)), "HK-TD", NOW),
        Push(notice(keys, 1, "RECEIVED", case_ref=c, message_id=mid(12)), "HK-TD", NOW),
        Push(notice(keys, 2, "ACCEPTED", case_ref=c, message_id=mid(12)), "HK-TD", NOW),
        Push(first, "HK-SWD", NOW),  # verified bytes, pushed by another agency
    ]


def answer(received: Received, refs: dict[str, str]) -> tuple[Any, ...]:
    applied = received.applied
    return (
        refs.get(received.case_ref or "", received.case_ref),
        received.code,
        received.duplicate,
        _reason(received.quarantined, refs),
        None
        if applied is None
        else (applied.stored, applied.duplicates, applied.state_before, applied.state_after),
        None if applied is None else applied.gaps,
    )


def _reason(text: str | None, refs: dict[str, str]) -> str | None:
    for real, alias in refs.items():
        text = text.replace(real, alias) if text else text
    return text


def history(db: Backend, refs: dict[str, str]) -> dict[str, Any]:
    """Everything the pushes left behind, with the side's case numbers replaced by aliases."""
    out: dict[str, Any] = {}
    with transaction(db.factory, read_only=True) as session:
        for real, alias in refs.items():
            events = session.execute(
                select(
                    CaseEvent.seq,
                    CaseEvent.event,
                    CaseEvent.state,
                    CaseEvent.source,
                    CaseEvent.agency_seq,
                    CaseEvent.agency_status,
                    CaseEvent.detail,
                )
                .where(CaseEvent.case_ref == real)
                .order_by(CaseEvent.seq)
            ).all()
            out[alias] = {
                "state": case_state(db.factory, real),
                # the filing's detail names its own submission, a supplement request its own
                # number: the same on both sides but for the numbers
                "events": [
                    row[:-1] if row.event == "filed" else row[:-1] + (_unnumbered(row.detail),)
                    for row in events
                ],
                "agency": session.execute(
                    select(AgencyEvent.seq, AgencyEvent.status, AgencyEvent.source)
                    .where(AgencyEvent.case_ref == real)
                    .order_by(AgencyEvent.seq)
                ).all(),
                "notifications": session.execute(
                    select(Message.kind, Outbox.state)
                    .join(Message, Message.id == Outbox.message_pk)
                    .where(Outbox.case_ref == real)
                    .order_by(Message.id)
                ).all(),
                "supplements": session.scalars(
                    select(SupplementRequest.agency_seq).where(SupplementRequest.case_ref == real)
                ).all(),
                "inbound": sorted(
                    (m.verified, _reason(m.quarantine_reason, refs), m.kind, m.counterpart)
                    for m in session.scalars(
                        select(Message).where(Message.direction == "in", Message.case_ref == real)
                    )
                ),
            }
    return out


def _unnumbered(detail: str | None) -> str | None:
    return re.sub(r"request \d+", "request N", detail) if detail else detail


def side(db: Backend, base: int) -> tuple[Callable[[int], str], dict[str, str]]:
    def ref(n: int) -> str:
        return f"GBA-{base + n:020X}"

    for n in (1, 2, 3):
        file_case_for(db.factory, ref(n), "HK-TD", now=NOW - dt.timedelta(hours=1))
    return ref, {ref(n): f"case-{n}" for n in (1, 2, 3, 9)}


def test_a_batch_ends_as_the_same_pushes_one_at_a_time(
    db: Backend, keys: KeyDirectory, tmp_path: Path
) -> None:
    stranger = KeyDirectory(tmp_path / "stranger")
    stranger.init()
    inbound = Inbound(db.factory, keys.trust_store(), max_bytes=200_000)
    one_ref, one_refs = side(db, 0xA00)
    many_ref, many_refs = side(db, 0xB00)
    one_pushes = scenario(keys, stranger, one_ref, 1)
    many_pushes = scenario(keys, stranger, many_ref, 2)
    # the verified repeat needs its bytes verified once before: the first push, alone, first
    singly = [inbound.receive_pushed(p.body, pushed_by=p.pushed_by, now=p.now) for p in one_pushes]
    batched = inbound.receive_pushed_many(many_pushes[:1]) + inbound.receive_pushed_many(
        many_pushes[1:]
    )
    assert [answer(r, one_refs) for r in singly] == [answer(r, many_refs) for r in batched]
    one, many = history(db, one_refs), history(db, many_refs)
    for alias in one:
        for key in one[alias]:
            assert (alias, key, one[alias][key]) == (alias, key, many[alias][key]), (
                f"{one[alias][key]}\n!=\n{many[alias][key]}"
            )
    # the scenario did what it says (the comparison above is not between two empty sides)
    codes = [r.code for r in batched]
    assert codes.count("SIGNATURE") == 1 and codes.count("UNKNOWN_CASE") == 1
    assert codes.count("UNAUTHORISED") == 4 and codes.count("SCHEMA") == 1
    assert [r.duplicate for r in batched][2] and case_state(db.factory, many_ref(2))[
        0
    ] == "COMPLETED"
    assert history(db, many_refs)["case-1"]["supplements"] == [3]


def test_two_receivers_storing_the_same_bytes_at_once_keep_one_row_and_apply_it_once(
    db: Backend, keys: KeyDirectory
) -> None:
    ref = "GBA-00000000000000000C01"
    file_case_for(db.factory, ref, "HK-TD")
    workers = [Inbound(db.factory, keys.trust_store(), max_bytes=200_000) for _ in range(2)]
    for round_ in range(1, 6):
        body = notice(keys, round_, "RECEIVED" if round_ == 1 else "IN_PROGRESS", case_ref=ref)
        start = threading.Barrier(2)

        def push(
            inbound: Inbound, body: bytes = body, start: threading.Barrier = start
        ) -> Received:
            start.wait()
            return inbound.receive_pushed(body, pushed_by="HK-TD")

        with ThreadPoolExecutor(2) as pool:
            answers = list(pool.map(push, workers))
        assert all(a.quarantined is None for a in answers), answers
        assert answers[0].message_pk == answers[1].message_pk
        assert sum(a.applied is not None and a.applied.stored == (round_,) for a in answers) == 1
    assert case_state(db.factory, ref) == ("IN_PROGRESS", [1, 2, 3, 4, 5])
    with transaction(db.factory, read_only=True) as session:
        rows = session.scalars(select(Message.verified).where(Message.direction == "in")).all()
        statuses = session.scalars(
            select(CaseEvent.agency_seq).where(CaseEvent.event == "status")
        ).all()
    assert rows == [True] * 5 and sorted(statuses) == [1, 2, 3, 4, 5]


@pytest.mark.parametrize("seed", [1, 2])
def test_two_receivers_pushing_the_same_cases_concurrently_end_in_order(
    db: Backend, keys: KeyDirectory, seed: int
) -> None:
    refs = [f"GBA-{0xD00 + seed * 16 + n:020X}" for n in range(6)]
    for ref in refs:
        file_case_for(db.factory, ref, "HK-TD")
    script = ["RECEIVED", "ACCEPTED", "IN_PROGRESS", "APPROVED", "COMPLETED"]
    bodies = [
        notice(keys, seq, status, case_ref=ref)
        for ref in refs
        for seq, status in enumerate(script, 1)
    ]
    bodies += bodies[::3]  # repeats, as agencies retry
    random.Random(seed).shuffle(bodies)
    workers = [Inbound(db.factory, keys.trust_store(), max_bytes=200_000) for _ in range(2)]

    def push(n: int) -> Received:
        return workers[n % 2].receive_pushed(bodies[n], pushed_by="HK-TD")

    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(push, range(len(bodies))))
    assert all(a.quarantined is None for a in answers)
    for ref in refs:
        assert case_state(db.factory, ref) == ("COMPLETED", [1, 2, 3, 4, 5])
    with transaction(db.factory, read_only=True) as session:
        for ref in refs:
            seqs = session.scalars(
                select(CaseEvent.seq).where(CaseEvent.case_ref == ref).order_by(CaseEvent.seq)
            ).all()
            assert seqs == list(range(1, len(seqs) + 1))  # numbered without gaps or twins
            status_events = session.scalars(
                select(CaseEvent.agency_seq).where(
                    CaseEvent.case_ref == ref, CaseEvent.event == "status"
                )
            ).all()
            assert sorted(status_events) == [1, 2, 3, 4, 5]
