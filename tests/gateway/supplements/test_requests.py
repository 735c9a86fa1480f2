"""補正 requests: opened once per agency event, told to Guangdong in Simplified Chinese."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import select

from gateway.store.tables import CaseEvent, SupplementRequest
from gateway.supplements.requests import open_request

NOW = dt.datetime(2026, 3, 2, 2, 0, tzinfo=dt.UTC)
REMARKS = "請補交住址證明文件，並於限期內遞交。"


def test_opened_once_per_agency_sequence_with_simplified_remarks(db, file_example, notified):
    case_ref = file_example("driving-licence-exchange-hk", delivered="TD-2026-000123")
    required: list[dict[str, Any]] = [
        {"type": "ADDRESS-PROOF", "due_date": dt.date(2026, 3, 16)},  # a date, as parsed
        {"type": "NOT-IN-MAPPING", "dueDate": "2026-03-16"},  # a string, camelCase
    ]
    with db.factory() as session, session.begin():
        first = open_request(
            session, case_ref, agency_seq=3, required=required, remarks=REMARKS, now=NOW
        )
        again = open_request(
            session, case_ref, agency_seq=3, required=required, remarks=REMARKS, now=NOW
        )
    assert first is not None and again is None
    with db.factory() as session, session.begin():  # a later transaction: still once
        assert (
            open_request(session, case_ref, agency_seq=3, required=[], remarks=None, now=NOW)
            is None
        )

    with db.factory() as session:
        row = session.execute(select(SupplementRequest)).scalar_one()
        events = session.scalars(
            select(CaseEvent.event).where(CaseEvent.case_ref == case_ref)
        ).all()
    assert row.state == "open" and row.agency_seq == 3
    assert row.remarks == REMARKS  # the agency's words kept
    assert row.remarks_simplified == "请补交住址证明文件，并于限期内递交。"
    assert row.required == [
        {"type": "ADDRESS-PROOF", "due_date": "2026-03-16"},
        {"type": "NOT-IN-MAPPING", "due_date": "2026-03-16"},
    ]
    assert events.count("supplement-requested") == 1

    assert notified == [
        (
            case_ref,
            "case.supplement_requested",
            {
                "requestId": first,
                "agencySeq": 3,
                "required": [
                    {"materialCode": "M05", "agencyType": "ADDRESS-PROOF", "dueDate": "2026-03-16"},
                    {"materialCode": None, "agencyType": "NOT-IN-MAPPING", "dueDate": "2026-03-16"},
                ],
                "remarks": "请补交住址证明文件，并于限期内递交。",
                "remarksOriginal": REMARKS,
            },
        )
    ]


def test_another_sequence_opens_another_request(db, file_example, notified):
    case_ref = file_example("northbound-vehicle-mo", delivered="DSAT-1")
    with db.factory() as session, session.begin():
        a = open_request(session, case_ref, agency_seq=2, required=[], remarks=None, now=NOW)
        b = open_request(
            session,
            case_ref,
            agency_seq=4,
            required=[{"type": "LIVRETE", "due_date": "2026-03-20"}],
            remarks="請補交車輛登記冊。",
            now=NOW,
        )
    assert a is not None and b is not None and a != b
    assert [n[2]["agencySeq"] for n in notified] == [2, 4]
    assert notified[0][2]["remarks"] is None
    assert notified[1][2]["required"][0]["materialCode"] == "M02"
    assert notified[1][2]["remarks"] == "请补交车辆登记册。"
