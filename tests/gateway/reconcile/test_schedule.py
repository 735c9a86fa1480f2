"""When the gateway asks an agency about a case next (``cases.next_poll_at``): intervals grow
with age, HK (which pushes) is pulled only after silence, a terminal state clears the schedule
(unless events are missing: a few more asks), and the sweep's due query reads open cases
through ``ix_cases_next_poll_at`` however many closed cases there are — on SQLite and
PostgreSQL."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable

import pytest
from sqlalchemy import event, insert, select, text, update

from gateway.inbound.testing import file_case_for
from gateway.reconcile import schedule
from gateway.reconcile.poll import claim, due_query
from gateway.reconcile.schedule import PollPolicy
from gateway.store import transaction
from gateway.store.tables import Case
from gateway.store.testing import Backend
from tests.gateway.reconcile.conftest import add_agency_events

NOW = dt.datetime(2026, 3, 2, 1, 0, tzinfo=dt.UTC)
POLICY = PollPolicy()
S = dt.timedelta(seconds=1)
H = dt.timedelta(hours=1)
D = dt.timedelta(days=1)


def test_intervals_grow_with_age_and_are_capped() -> None:
    ages = [0 * S, 59 * 60 * S, 2 * H, D, D + 2 * H, 3 * D, 9 * D, 30 * D, 3650 * D]
    intervals = [POLICY.interval(age) for age in ages]
    assert intervals[:2] == [30 * S, 30 * S]  # the first hour: the base interval
    assert intervals[2] == 60 * S and intervals[4] == 120 * S  # then doubling per day
    assert intervals == sorted(intervals)  # never shorter with age
    assert intervals[-1] == intervals[-2] == 6 * H  # capped


def test_a_fast_policy_for_tests_and_the_demo() -> None:
    fast = PollPolicy(base=0.2, cap=1.0)
    assert fast.interval(0 * S) == 0.2 * S and fast.interval(30 * D) == 1 * S


def test_retry_backs_off_with_the_silence() -> None:
    assert POLICY.retry(0 * S) == 30 * S
    assert POLICY.retry(2 * H) == 1 * H
    assert POLICY.retry(30 * D) == 6 * H


def _case(db: Backend, ref: str, agency: str, region: str, *, filed: dt.datetime = NOW) -> str:
    file_case_for(db.factory, ref, agency, region=region, now=filed)
    return ref


def _row(db: Backend, ref: str) -> Case:
    with transaction(db.factory, read_only=True) as session:
        case = session.get(Case, ref)
        assert case is not None
        session.expunge(case)
        return case


def test_after_delivery_mo_is_polled_at_the_interval_hk_pulled_after_silence(
    db: Backend,
) -> None:
    mo = _case(db, "GBA-00000000000000000B01", "MO-DSAT", "MO")
    hk = _case(db, "GBA-00000000000000000B02", "HK-TD", "HK")
    with transaction(db.factory) as session:
        schedule.after_delivery(session, mo, now=NOW, policy=POLICY)
        schedule.after_delivery(session, hk, now=NOW, policy=POLICY)
    assert _row(db, mo).next_poll_at == NOW + 30 * S
    assert _row(db, mo).last_contact_at == NOW
    assert _row(db, hk).next_poll_at == NOW + POLICY.pull_after * S


def test_after_contact_reschedules_by_age_and_a_terminal_state_clears(db: Backend) -> None:
    young = _case(db, "GBA-00000000000000000B03", "MO-DSAT", "MO")
    old = _case(db, "GBA-00000000000000000B04", "MO-DSAT", "MO", filed=NOW - 5 * D)
    later = NOW + 10 * S
    with transaction(db.factory) as session:
        schedule.after_contact(session, young, state="IN_PROGRESS", now=later, policy=POLICY)
        schedule.after_contact(session, old, state="IN_PROGRESS", now=later, policy=POLICY)
    assert _row(db, young).next_poll_at == later + 30 * S
    assert _row(db, old).next_poll_at == later + POLICY.interval(5 * D + 10 * S)
    assert _row(db, old).next_poll_at > _row(db, young).next_poll_at  # type: ignore[operator]
    for state in ("COMPLETED", "REJECTED", "WITHDRAWN"):
        with transaction(db.factory) as session:
            schedule.after_contact(session, young, state=state, now=later, policy=POLICY)
        assert _row(db, young).next_poll_at is None
        assert _row(db, young).last_contact_at == later


def test_pull_soon_is_due_now(db: Backend) -> None:
    hk = _case(db, "GBA-00000000000000000B05", "HK-TD", "HK")
    with transaction(db.factory) as session:
        schedule.after_delivery(session, hk, now=NOW, policy=POLICY)
        schedule.pull_soon(session, hk, now=NOW + S)
    assert _row(db, hk).next_poll_at == NOW + S


def _add_closed(db: Backend, template: str, count: int) -> None:
    with transaction(db.factory) as session:
        row = session.execute(select(Case).where(Case.case_ref == template)).scalar_one()
        values = {c.key: getattr(row, c.key) for c in Case.__table__.columns}
        rows = []
        for _ in range(count):
            suffix = uuid.uuid4().hex[:20].upper()
            rows.append(
                {
                    **values,
                    "case_ref": f"GBA-{suffix}",
                    "application_no": f"CLOSED-{suffix}",
                    "state": "COMPLETED",
                    "next_poll_at": None,
                }
            )
        session.execute(insert(Case), rows)


def _plan(db: Backend, now: dt.datetime) -> str:
    """The database's plan for the sweep's due query, as text."""
    query = due_query(now, batch=50, blocked=set())
    with db.engine.connect() as connection:
        compiled = query.compile(connection)
        if db.name == "sqlite":  # qmark parameters, in order
            params: object = tuple(compiled.params[k] for k in compiled.positiontup or ())
            sql = f"EXPLAIN QUERY PLAN {compiled}"
        else:
            params, sql = compiled.params, f"EXPLAIN {compiled}"
        rows = connection.exec_driver_sql(sql, params).all()  # type: ignore[arg-type]
    return "\n".join(" ".join(str(v) for v in r) for r in rows)


def test_the_due_query_reads_open_cases_through_the_index_whatever_is_closed(
    db: Backend,
) -> None:
    open_refs = [_case(db, f"GBA-00000000000000000C{n:02d}", "MO-DSAT", "MO") for n in range(10)]
    with transaction(db.factory) as session:
        session.execute(
            update(Case)
            .where(Case.case_ref.in_(open_refs))
            .values(state="IN_PROGRESS", next_poll_at=NOW - S)
        )
    _add_closed(db, open_refs[0], 3000)
    with db.engine.connect() as connection:
        connection.execute(text("ANALYZE"))
        connection.commit()
    plan = _plan(db, NOW)
    assert "ix_cases_next_poll_at" in plan, plan
    if db.name == "postgresql":
        assert "Seq Scan on cases" not in plan, plan
    # and the claim asks about the open cases only
    claimed = claim(db.factory, now=NOW, batch=50, limit=50, policy=POLICY, defer=10 * S)
    assert sorted(d.case_ref for d in claimed) == sorted(open_refs)


def _closed(db: Backend, ref: str, seqs: list[int]) -> str:
    """A case the agency closed with events ``seqs`` (the highest closed it), rescheduled by
    the contact that brought them."""
    _case(db, ref, "MO-DSAT", "MO")
    with transaction(db.factory) as session:
        add_agency_events(session, ref, seqs, agency_status="CONCLUIDO", status="COMPLETED", at=NOW)
        session.execute(
            update(Case).where(Case.case_ref == ref).values(state="COMPLETED", last_seq=max(seqs))
        )
        schedule.after_contact(session, ref, state="COMPLETED", now=NOW, policy=POLICY)
    return ref


def _statements(db: Backend) -> Callable[[], int]:
    """Count the SQL statements sent from now on (read with the returned function)."""
    sent: list[str] = []

    def note(conn: object, cursor: object, statement: str, *args: object) -> None:
        sent.append(statement)

    event.listen(db.engine, "before_cursor_execute", note)

    def count() -> int:
        event.remove(db.engine, "before_cursor_execute", note)
        return len(sent)

    return count


def test_a_sweep_asks_a_closed_case_only_while_events_are_missing_whatever_else_is_closed(
    db: Backend,
) -> None:
    busy = _case(db, "GBA-00000000000000000D01", "MO-DSAT", "MO")
    with transaction(db.factory) as session:
        session.execute(
            update(Case).where(Case.case_ref == busy).values(state="IN_PROGRESS", next_poll_at=NOW)
        )
    whole = _closed(db, "GBA-00000000000000000D02", [1, 2, 3])
    gapped = _closed(db, "GBA-00000000000000000D03", [1, 3])
    assert _row(db, whole).next_poll_at is None  # closed, nothing missing: off the schedule
    assert _row(db, gapped).next_poll_at == NOW + POLICY.gap_retry(0)

    def sweep() -> tuple[list[str], int]:
        with transaction(db.factory) as session:  # both due again
            session.execute(
                update(Case).where(Case.case_ref.in_([busy, gapped])).values(next_poll_at=NOW)
            )
        count = _statements(db)
        claimed = claim(db.factory, now=NOW, batch=50, limit=50, policy=POLICY, defer=10 * S)
        return sorted(d.case_ref for d in claimed), count()

    few = sweep()
    _add_closed(db, whole, 3000)
    many = sweep()
    # the same cases asked with the same statements: closed cases without gaps cost nothing
    # (3,000 of them would cost thousands if they did). One statement either way is allowed:
    # once, under a full parallel CI run on PostgreSQL, the second sweep sent 11 statements
    # and the first 12 (not reproduced alone; cause not found).
    assert few[0] == many[0] == sorted([busy, gapped]), (few, many)
    assert abs(few[1] - many[1]) <= 1, (few, many)
    since = {
        d.case_ref: d.since_seq
        for d in claim(db.factory, now=NOW + D, batch=50, limit=50, policy=POLICY, defer=S)
    }
    assert since[gapped] == 1  # DesdeSequencia: the sequence before the gap


@pytest.mark.parametrize("state", ["filed", "COMPLETED"])
def test_a_stray_schedule_on_a_case_not_open_is_cleared_not_asked(db: Backend, state: str) -> None:
    ref = _case(db, "GBA-00000000000000000B06", "MO-DSAT", "MO")
    with transaction(db.factory) as session:
        session.execute(
            update(Case).where(Case.case_ref == ref).values(state=state, next_poll_at=NOW - S)
        )
    assert claim(db.factory, now=NOW, batch=10, limit=10, policy=POLICY, defer=10 * S) == []
    assert _row(db, ref).next_poll_at is None
