"""Reconciliation by sequence: arrival order, repeats and late fills change nothing.

Run on SQLite and PostgreSQL (the ``db`` fixture). The property: for any shuffle of a case's
notices, with duplicates and with drops later filled by a pull (also after the case closed),
the final state, the timeline and the case's history of agency statuses equal those of the
in-order sequence.
"""

from __future__ import annotations

import datetime as dt
import itertools

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from gateway.reconcile.apply import Event, apply, fold, timeline
from gateway.store import file_case, transaction
from gateway.store.tables import Case, CaseEvent
from gateway.store.testing import Backend, filing

T0 = dt.datetime(2026, 3, 2, 1, 0, tzinfo=dt.UTC)
SCENARIOS = {
    "happy": ["RECEIVED", "ACCEPTED", "IN_PROGRESS", "APPROVED", "COMPLETED"],
    "supplement": ["RECEIVED", "ACCEPTED", "INFO_REQUIRED", "IN_PROGRESS", "APPROVED"],
    "reject": ["RECEIVED", "ACCEPTED", "IN_PROGRESS", "REJECTED"],
    "withdraw": ["RECEIVED", "ACCEPTED", "WITHDRAWN"],
}
_numbers = itertools.count(1000)


def canonical(code: str) -> str:
    return code  # CBCE codes are the canonical names; SIP's go through the mapping


def events(statuses: list[str], seqs: list[int] | None = None) -> list[Event]:
    seqs = seqs or list(range(1, len(statuses) + 1))
    return [
        Event(seq, s, T0 + dt.timedelta(hours=seq)) for seq, s in zip(seqs, statuses, strict=True)
    ]


def new_case(db: Backend) -> str:
    with transaction(db.factory) as session:
        case_ref, _ = file_case(session, **filing(next(_numbers)), now=T0)
    return case_ref


def deliver(db: Backend, case_ref: str, batch: list[Event], source: str = "push"):
    with transaction(db.factory) as session:
        return apply(session, case_ref, batch, source=source, canonical=canonical, now=T0)


def outcome(db: Backend, case_ref: str) -> tuple[str, list, list]:
    """State, timeline, and the status case events (one per agency event, by its sequence)."""
    with transaction(db.factory, read_only=True) as session:
        state = session.scalar(select(Case.state).where(Case.case_ref == case_ref))
        statuses = session.execute(
            select(CaseEvent.agency_seq, CaseEvent.agency_status)
            .where(CaseEvent.case_ref == case_ref, CaseEvent.event == "status")
            .order_by(CaseEvent.agency_seq)
        ).all()
        return state, timeline(session, case_ref), [tuple(row) for row in statuses]


@given(
    scenario=st.sampled_from(sorted(SCENARIOS)),
    data=st.data(),
)
@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
def test_any_arrival_order_gives_the_in_order_result(db: Backend, scenario: str, data) -> None:
    sequence = events(SCENARIOS[scenario])
    in_order = new_case(db)
    deliver(db, in_order, sequence)

    shuffled = data.draw(st.permutations(sequence))
    repeats = data.draw(st.lists(st.sampled_from(sequence), max_size=4))
    dropped = data.draw(st.sets(st.sampled_from([e.seq for e in sequence]), max_size=2))
    arrivals = [e for e in [*shuffled, *repeats] if e.seq not in dropped]
    case_ref = new_case(db)
    for event in arrivals:  # one notice per push, as HK sends them
        deliver(db, case_ref, [event])
    deliver(db, case_ref, sequence, source="pull")  # a pull returns what was missed

    assert outcome(db, case_ref) == outcome(db, in_order)


def test_a_duplicate_and_an_older_notice_change_nothing(db: Backend) -> None:
    case_ref = new_case(db)
    first = deliver(db, case_ref, events(["RECEIVED", "ACCEPTED"]))
    assert first.stored == (1, 2) and first.state_after == "ACCEPTED"
    again = deliver(db, case_ref, events(["ACCEPTED"], [2]))
    assert again.duplicates == (2,) and not again.changed


def test_a_terminal_state_is_never_left(db: Backend) -> None:
    case_ref = new_case(db)
    deliver(db, case_ref, events(["RECEIVED", "REJECTED"]))
    later = deliver(db, case_ref, events(["IN_PROGRESS"], [3]))
    assert later.state_after == "REJECTED" and later.stored == (3,)
    state, steps, _ = outcome(db, case_ref)
    assert state == "REJECTED" and [s.applied for s in steps] == [True, True, False]


def test_a_gap_filled_after_the_case_closed_completes_its_history_in_the_closed_state(
    db: Backend,
) -> None:
    sequence = events(SCENARIOS["happy"])
    in_order = new_case(db)
    deliver(db, in_order, sequence, source="poll")
    case_ref = new_case(db)
    closed = deliver(db, case_ref, sequence[1:], source="poll")  # SIP held seq 1 back
    assert closed.state_after == "COMPLETED" and closed.gaps == ((1, 1),)
    filled = deliver(db, case_ref, sequence, source="poll")  # asked from before the gap
    assert filled.stored == (1,) and filled.duplicates == (2, 3, 4, 5)
    assert filled.state_before == filled.state_after == "COMPLETED"
    assert outcome(db, case_ref) == outcome(db, in_order)


def test_a_lower_terminal_filled_in_after_the_case_closed_does_not_change_it(
    db: Backend,
) -> None:
    case_ref = new_case(db)
    deliver(db, case_ref, events(["RECEIVED", "APPROVED", "COMPLETED"], [1, 3, 4]))
    late = deliver(db, case_ref, events(["REJECTED"], [2]), source="pull")  # contradicts
    assert late.stored == (2,) and late.state_after == "COMPLETED" and not late.changed
    state, steps, statuses = outcome(db, case_ref)
    assert state == "COMPLETED" and (2, "REJECTED") in statuses  # kept, and in the history
    with transaction(db.factory, read_only=True) as session:
        kinds = session.scalars(select(CaseEvent.event).where(CaseEvent.case_ref == case_ref))
        assert "terminal-kept" in set(kinds)


def test_approved_may_only_become_completed() -> None:
    state, steps = fold([(1, "A", "APPROVED"), (2, "X", "IN_PROGRESS"), (3, "C", "COMPLETED")])
    assert state == "COMPLETED" and [s.applied for s in steps] == [True, False, True]


def test_a_gap_is_recorded_once_and_a_late_fill_closes_it(db: Backend) -> None:
    case_ref = new_case(db)
    deliver(db, case_ref, events(["RECEIVED"], [1]))
    jumped = deliver(db, case_ref, events(["IN_PROGRESS"], [4]))
    assert jumped.gaps == ((2, 3),)
    filled = deliver(db, case_ref, events(["ACCEPTED", "INFO_REQUIRED"], [2, 3]), "pull")
    assert filled.gaps == () and filled.state_after == "IN_PROGRESS"
    with transaction(db.factory, read_only=True) as session:
        kinds = session.scalars(
            select(CaseEvent.event).where(CaseEvent.case_ref == case_ref).order_by(CaseEvent.seq)
        ).all()
    assert kinds.count("gap") == 1


def test_the_same_sequence_with_other_content_keeps_the_first(db: Backend) -> None:
    case_ref = new_case(db)
    deliver(db, case_ref, events(["RECEIVED", "ACCEPTED"]))
    clash = deliver(db, case_ref, events(["REJECTED"], [2]))
    assert clash.conflicts == (2,) and clash.state_after == "ACCEPTED"


def test_an_unknown_status_code_is_refused_before_anything_is_stored(db: Backend) -> None:
    case_ref = new_case(db)

    def strict(code: str) -> str:
        return {"RECEIVED": "RECEIVED"}[code]

    with pytest.raises(KeyError), transaction(db.factory) as session:
        apply(
            session,
            case_ref,
            events(["RECEIVED", "BOGUS"]),
            source="push",
            canonical=strict,
            now=T0,
        )
    assert outcome(db, case_ref) == ("filed", [], [])
