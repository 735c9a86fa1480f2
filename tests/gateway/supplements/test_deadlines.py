"""Time limits kept on the case: the agency's answer date at delivery, and overdue alerts
raised once per case and once per owed material, however many sweeps run."""

from __future__ import annotations

import datetime as dt
from types import SimpleNamespace
from typing import Any

from sqlalchemy import select, update

from gateway.domain.timelimits import agency_answer_due
from gateway.store.tables import Case, CaseEvent, PendingMaterial
from gateway.supplements.deadlines import after_delivery
from gateway.supplements.mapping import case_mapping
from gateway.supplements.overdue import check_overdue, sweep


def test_agency_due_counted_from_the_delivery_day_in_the_agencys_zone(db, file_example):
    case_ref = file_example("northbound-vehicle-hk")
    # 17:30 UTC on Mon Feb 2 is Tue Feb 3 in Hong Kong; agencyDays 5 on the HK calendar:
    # Feb 4 (1), 5 (2), 6 (3), [7–8 weekend], 9 (4), 10 (5) — counted from Feb 2 it would be 9
    now = dt.datetime(2026, 2, 2, 17, 30, tzinfo=dt.UTC)
    with db.factory() as session, session.begin():
        after_delivery(session, case_ref, now=now)
    with db.factory() as session:
        case = session.get(Case, case_ref)
        assert case is not None
        mapping = case_mapping(case.item_code, case.item_version, "HK", case.mapping_id)
        assert mapping is not None and mapping.agency_days == 5
        assert case.agency_due == dt.date(2026, 2, 10)
        assert agency_answer_due(dt.date(2026, 2, 3), mapping, "HK") == case.agency_due


def test_overdue_raised_once_across_sweeps(db, file_example, notified):
    # filed in March 2025 (the examples' submission dates): long past their committed dates
    overdue_ref = file_example("driving-licence-exchange-hk", delivered="TD-1")  # owes M05
    closed_ref = file_example("northbound-vehicle-mo", delivered="DSAT-1")
    with db.factory() as session, session.begin():
        session.execute(update(Case).where(Case.case_ref == closed_ref).values(state="COMPLETED"))
    runtime: Any = SimpleNamespace(sessions=db.factory)  # what check_overdue reads of one
    now = dt.datetime(2026, 3, 1, 4, 0, tzinfo=dt.UTC)

    assert check_overdue(runtime, now=now, batch=1) == 2  # batches of one: still all of them
    assert check_overdue(runtime, now=now) == 0
    assert sweep(db.factory, now=now + dt.timedelta(days=1)) == 0

    assert sorted(n[1] for n in notified) == ["case.overdue", "material.overdue"]
    assert {n[0] for n in notified} == {overdue_ref}
    material = next(n[2] for n in notified if n[1] == "material.overdue")
    assert material["materialCode"] == "M05" and material["agencyType"] == "ADDRESS-PROOF"
    with db.factory() as session:
        case = session.get(Case, overdue_ref)
        assert case is not None and case.overdue_raised_at is not None
        assert next(n[2] for n in notified if n[1] == "case.overdue")["committedDue"] == (
            case.committed_due.isoformat() if case.committed_due else None
        )
        assert session.scalars(select(PendingMaterial.overdue_raised_at)).one() is not None
        events = session.scalars(
            select(CaseEvent.event).where(CaseEvent.case_ref == overdue_ref)
        ).all()
    assert events.count("overdue") == 1 and events.count("material-overdue") == 1


def test_not_overdue_before_the_due_date_in_guangdong(db, file_example, notified):
    case_ref = file_example("northbound-vehicle-hk")
    with db.factory() as session:
        case = session.get(Case, case_ref)
        assert case is not None and case.committed_due is not None
        due = case.committed_due
    # 23:30 UTC on the due date is already the next day in Guangdong: overdue
    on_the_day = dt.datetime.combine(due, dt.time(15, 0), dt.UTC)  # 23:00 in Guangdong
    next_day = dt.datetime.combine(due, dt.time(16, 30), dt.UTC)  # 00:30 the day after
    assert sweep(db.factory, now=on_the_day) == 0
    assert sweep(db.factory, now=next_day) == 1
    assert [n[1] for n in notified] == ["case.overdue"]
