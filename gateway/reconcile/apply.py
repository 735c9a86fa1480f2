"""Apply an agency's status events to a case: stored once by sequence, state derived in order.

Both specs number events per case and say the sequence decides (notices "can arrive late,
twice, or out of order"). So events are kept in ``agency_events`` keyed by ``(case, seq)`` and
the case's state is always the fold of *all* its events in sequence order — never "the last
one that arrived". A duplicate changes nothing; an older event that arrives late takes its
place in the timeline; the same sequence with other content keeps the first and is recorded.
A terminal state (completed, rejected, withdrawn; approved may only become completed) is never
left. A sequence that jumps past the last one is recorded as a gap for the caller to pull.

Events below a terminal one may still arrive (a gap filled after the case closed): they are
stored and are case events like any other, so the history ends equal to the in-order one, and
for an agency's consistent sequence the fold keeps the terminal state anyway. Should they fold
to another state (an agency contradicting itself: a lower terminal under the one we closed
on), the case keeps the state it closed with and the contradiction is recorded — Guangdong was
already told the result.

The case row is locked first (``FOR UPDATE``; SQLite's writer lock), so a push and a poll for
one case never interleave.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from gateway.store.among import among, dialect_of
from gateway.store.bulk import plain_rows
from gateway.store.tables import AgencyEvent, Case
from gateway.store.types import as_utc
from gateway.store.writes import Writes

TERMINAL = frozenset({"COMPLETED", "REJECTED", "WITHDRAWN"})
#: states that may only be followed by these
ONLY_THEN = {"APPROVED": frozenset({"COMPLETED"})}


@dataclass(frozen=True)
class Event:
    """One agency status event, as a format's parser read it from a verified document."""

    seq: int
    agency_status: str
    changed_at: dt.datetime
    remarks: str | None = None
    details: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Step:
    seq: int
    agency_status: str
    status: str  # canonical
    applied: bool  # False: it would have left a terminal state, so it was not followed


@dataclass(frozen=True)
class Applied:
    stored: tuple[int, ...]  # sequences new to the gateway
    duplicates: tuple[int, ...]  # already had, same content
    conflicts: tuple[int, ...]  # already had with other content: the first is kept
    state_before: str
    state_after: str
    gaps: tuple[tuple[int, int], ...]  # (first missing, last missing) ranges to pull

    @property
    def changed(self) -> bool:
        return self.state_before != self.state_after


def fold(steps: Iterable[tuple[int, str, str]]) -> tuple[str | None, list[Step]]:
    """The state after ``(seq, agency_status, canonical)`` events in sequence order."""
    state: str | None = None
    timeline = []
    for seq, agency_status, status in sorted(steps):
        allowed = state not in TERMINAL and (state not in ONLY_THEN or status in ONLY_THEN[state])
        if allowed:
            state = status
        timeline.append(Step(seq, agency_status, status, allowed))
    return state, timeline


@dataclass(frozen=True)
class Recorded:
    """An agency event the gateway has: stored before, or by this batch (with its texts)."""

    seq: int
    agency_status: str
    status: str  # canonical
    changed_at: dt.datetime
    remarks: str | None = None
    details: dict[str, Any] = field(default_factory=dict)


@lru_cache(maxsize=4)
def _recorded(dialect: str) -> Any:
    return select(
        AgencyEvent.case_ref,
        AgencyEvent.seq,
        AgencyEvent.agency_status,
        AgencyEvent.status,
        AgencyEvent.changed_at,
    ).where(among(dialect, AgencyEvent.case_ref, "refs"))


def recorded(session: Session, case_refs: Iterable[str]) -> dict[str, dict[int, Recorded]]:
    """The agency events of ``case_refs`` the gateway has, by case and sequence."""
    known: dict[str, dict[int, Recorded]] = {ref: {} for ref in case_refs}
    rows = plain_rows(session, _recorded(dialect_of(session)), {"refs": list(known)})
    for case_ref, seq, agency_status, status, changed_at in rows:
        changed_at = as_utc(changed_at)  # as the column's type reads it
        known[case_ref][seq] = Recorded(seq, agency_status, status, changed_at)
    return known


def apply(
    session: Session,
    case_ref: str,
    events: Sequence[Event],
    *,
    source: str,
    canonical: Callable[[str], str],
    now: dt.datetime,
    message_pk: int | None = None,
) -> Applied:
    """Store new events of ``case_ref`` and set its state from all of them, in one transaction
    (the caller's). ``canonical`` maps an agency status code to the canonical status (the
    case's mapping); it raises ``KeyError`` for a code the mapping does not know, which the
    caller quarantines."""
    case = session.execute(
        select(Case).where(Case.case_ref == case_ref).with_for_update()
    ).scalar_one()
    writes = Writes(session, [case])
    applied, _ = apply_to(
        case,
        recorded(session, [case_ref])[case_ref],
        events,
        source=source,
        canonical=canonical,
        now=now,
        message_pk=message_pk,
        writes=writes,
    )
    writes.flush()
    return applied


def apply_to(
    case: Case,
    known: dict[int, Recorded],
    events: Sequence[Event],
    *,
    source: str,
    canonical: Callable[[str], str],
    now: dt.datetime,
    message_pk: int | None,
    writes: Writes,
) -> tuple[Applied, list[Recorded]]:
    """:func:`apply` on a loaded, locked ``case`` whose events are ``known`` (the new ones are
    added to it); rows go to ``writes``. Also returns the newly stored events, in order."""
    case_ref = case.case_ref
    highest_before = max(known, default=0)
    stored: list[Recorded] = []
    duplicates: list[int] = []
    conflicts: list[int] = []
    for event in sorted(events, key=lambda e: e.seq):
        status = canonical(event.agency_status)
        have = known.get(event.seq)
        if have is not None:
            same = have.agency_status == event.agency_status and have.changed_at == event.changed_at
            (duplicates if same else conflicts).append(event.seq)
            continue
        writes.agency_event(
            case_ref=case_ref,
            seq=event.seq,
            agency_status=event.agency_status,
            status=status,
            changed_at=event.changed_at,
            remarks=event.remarks,
            details=event.details,
            message_pk=message_pk,
            source=source,
            recorded_at=now,
        )
        new = Recorded(
            event.seq, event.agency_status, status, event.changed_at, event.remarks, event.details
        )
        known[event.seq] = new
        stored.append(new)
        writes.case_event(
            case,
            event="status",
            source="agency",
            now=now,
            agency_seq=event.seq,
            agency_status=event.agency_status,
            detail=f"{source}: {status}",
        )
    for seq in conflicts:
        writes.case_event(
            case,
            event="sequence-conflict",
            source="agency",
            now=now,
            agency_seq=seq,
            detail=f"{source}: seq {seq} again with other content; the first is kept",
        )

    state_before = case.state
    folded, _ = fold((e.seq, e.agency_status, e.status) for e in known.values())
    if state_before in TERMINAL and folded != state_before:
        writes.case_event(
            case,
            event="terminal-kept",
            source="gateway",
            now=now,
            detail=f"{source}: the events now fold to {folded}; the case stays {state_before}",
        )
        folded = state_before
    new_seqs = [e.seq for e in stored]
    gaps = _gaps(highest_before, new_seqs, known)
    for first, last in gaps:
        writes.case_event(
            case,
            event="gap",
            source="gateway",
            now=now,
            detail=f"{source}: sequence {first}–{last} not received; pulling",
        )
    if folded is not None and folded != state_before:
        writes.case_event(
            case, event="state", source="agency", now=now, state=folded, agency_seq=max(known)
        )
    if known:
        case.last_seq = max(known)
    applied = Applied(
        stored=tuple(new_seqs),
        duplicates=tuple(duplicates),
        conflicts=tuple(conflicts),
        state_before=state_before,
        state_after=folded if folded is not None else state_before,
        gaps=tuple(gaps),
    )
    return applied, stored


def _gaps(highest_before: int, stored: list[int], known: dict[int, Any]) -> list[tuple[int, int]]:
    """Missing ranges below the newly stored sequences, above what was already complete."""
    if not stored:
        return []
    gaps, expected = [], 1
    for seq in sorted(known):
        if seq > expected and seq > highest_before:
            gaps.append((max(expected, highest_before + 1), seq - 1))
        expected = seq + 1
    return [(a, b) for a, b in gaps if a <= b]


def timeline(session: Session, case_ref: str) -> list[Step]:
    """The case's agency timeline in sequence order, with which events were followed."""
    rows = session.execute(
        select(AgencyEvent.seq, AgencyEvent.agency_status, AgencyEvent.status).where(
            AgencyEvent.case_ref == case_ref
        )
    )
    return fold((seq, agency, status) for seq, agency, status in rows)[1]
