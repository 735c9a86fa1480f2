"""Filing keeps the committed due date and the materials owed (容缺) exactly as the signed
submission states them, in the case's own transaction."""

from __future__ import annotations

from lxml import etree
from sqlalchemy import select

from gateway.store.tables import Case, Message, PendingMaterial


def _attrs(document: bytes, local: str) -> list[dict[str, str]]:
    root = etree.fromstring(document)
    return [dict(e.attrib) for e in root.iter() if etree.QName(e).localname == local]


def test_committed_due_and_pending_materials_as_the_document_states(db, file_example):
    case_ref = file_example("driving-licence-exchange-hk")  # deficient: M05
    with db.factory() as session:
        case = session.get(Case, case_ref)
        pending = session.scalars(select(PendingMaterial)).all()
        document = session.scalars(select(Message.body)).one()
    assert case is not None and case.committed_due is not None
    [limit] = _attrs(document, "TimeLimit")
    assert case.committed_due.isoformat() == limit["DueDate"]
    [owed] = _attrs(document, "Pending")
    assert [(p.material_code, p.agency_type, p.state) for p in pending] == [
        ("M05", "ADDRESS-PROOF", "pending")
    ]
    assert pending[0].agency_type == owed["Type"]
    assert pending[0].due_date.isoformat() == owed["DueDate"]
    assert pending[0].overdue_raised_at is None and pending[0].outbox_id is None


def test_no_deficient_material_no_pending_row(db, file_example):
    case_ref = file_example("northbound-vehicle-mo")
    with db.factory() as session:
        case = session.get(Case, case_ref)
        assert case is not None and case.committed_due is not None
        assert session.scalars(select(PendingMaterial)).all() == []


def test_a_repeat_writes_nothing_more(db, file_example):
    file_example("driving-licence-exchange-hk")
    file_example("driving-licence-exchange-hk")
    with db.factory() as session:
        assert len(session.scalars(select(PendingMaterial)).all()) == 1
