"""Forwarding the applicant's documents: a schema-valid Supplement / EntregaDocumentos,
signed once by the gateway, queued once in the outbox; refusals name what is wrong."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from lxml import etree
from sqlalchemy import select, update

from gateway.registry import installed_formats
from gateway.store.tables import Case, Message, Outbox, PendingMaterial, SupplementRequest
from gateway.supplements.forward import SupplementRefused, forward, forward_detailed
from gateway.supplements.requests import open_request
from signing import verify
from signing.parties import GATEWAY_PARTY

NOW = dt.datetime.now(dt.UTC)  # signed now: the test keys are valid from today


def material(code: str, n: int = 1, **changes: Any) -> dict[str, Any]:
    ref = {
        "code": code,
        "fileName": f"{code}-{n}.pdf",
        "mediaType": "application/pdf",
        "size": 1024 * n,
        "sha256": f"{n:x}" * 64 if n < 16 else "ab" * 32,
        "url": f"https://files.gd.gov.cn/materials/{code}-{n}.pdf",
    }
    return ref | changes


def supplements(db) -> list[tuple[Outbox, Message]]:
    with db.factory() as session:
        return list(
            session.execute(
                select(Outbox, Message)
                .join(Message, Message.id == Outbox.message_pk)
                .where(Outbox.kind == "supplement")
            ).all()
        )


def check_signed_and_valid(keys, region: str, body: bytes, agency: str, case_ref: str) -> None:
    fmt = installed_formats()[region]
    fmt.validate(etree.fromstring(body))
    verified = verify(body, keys.trust_store(), fmt.header, expected_sender=GATEWAY_PARTY)
    header = fmt.parse_header(verified.element)
    assert (header.sender, header.recipient, header.case_ref) == (GATEWAY_PARTY, agency, case_ref)


def test_hk_owed_material_forwarded_once(db, keys, file_example):
    case_ref = file_example("driving-licence-exchange-hk", delivered="TD-2026-000123")
    with db.factory() as session, session.begin():
        outbox_id = forward(session, case_ref, [material("M05")], keys.gateway_key(), now=NOW)
    with db.factory() as session, session.begin():  # the same materials again: the same row
        again = forward_detailed(session, case_ref, [material("M05")], keys.gateway_key(), now=NOW)
    assert again.outbox_id == outbox_id and not again.created

    [(row, message)] = supplements(db)
    assert (row.id, row.destination, row.state) == (outbox_id, "HK-TD", "pending")
    assert message.kind == "Supplement"
    check_signed_and_valid(keys, "HK", message.body, "HK-TD", case_ref)
    root = etree.fromstring(message.body)
    text = etree.tostring(root, encoding="unicode")
    assert "TD-2026-000123" in text and "ADDRESS-PROOF" in text and "M05-" in text
    with db.factory() as session:
        owed = session.scalars(select(PendingMaterial)).one()
    assert (owed.state, owed.outbox_id) == ("forwarded", outbox_id)
    assert owed.forwarded_at is not None


def test_mo_request_answered_partially_then_fully(db, keys, file_example, notified):
    case_ref = file_example("northbound-vehicle-mo", delivered="DSAT-2026-77")
    with db.factory() as session, session.begin():
        request_id = open_request(
            session,
            case_ref,
            agency_seq=2,
            required=[
                {"type": "LIVRETE", "due_date": "2026-03-20"},
                {"type": "SEGURO-INTERIOR", "due_date": "2026-03-20"},
            ],
            remarks="請補交文件。",
            now=NOW,
        )
    key = keys.gateway_key()
    with db.factory() as session, session.begin():
        first = forward_detailed(session, case_ref, [material("M02")], key, now=NOW)
    assert first.created and first.answered_requests == []
    assert first.documents == [
        {"materialCode": "M02", "agencyType": "LIVRETE", "docId": "M02-" + "1" * 12}
    ]
    with db.factory() as session, session.begin():  # another file for M02: a new supplement
        second = forward_detailed(session, case_ref, [material("M02", 2)], key, now=NOW)
    with db.factory() as session, session.begin():
        third = forward_detailed(session, case_ref, [material("M04", 3)], key, now=NOW)
    assert second.created and third.created
    assert third.answered_requests == [request_id]
    assert len({first.outbox_id, second.outbox_id, third.outbox_id}) == 3

    rows = supplements(db)
    assert len(rows) == 3
    for row, message in rows:
        assert message.kind == "EntregaDocumentos" and row.destination == "MO-DSAT"
        check_signed_and_valid(keys, "MO", message.body, "MO-DSAT", case_ref)
    with db.factory() as session:
        request = session.get(SupplementRequest, request_id)
    assert request is not None
    assert (request.state, request.outbox_id) == ("answered", third.outbox_id)
    assert [d["outbox_id"] for d in request.required] == [second.outbox_id, third.outbox_id]

    # answered: a new document is no longer asked for; the same one again is the same row
    with db.factory() as session, session.begin():
        with pytest.raises(SupplementRefused, match="M02 \\(LIVRETE\\) was not requested"):
            forward(session, case_ref, [material("M02", 4)], key, now=NOW)
    with db.factory() as session, session.begin():
        assert forward(session, case_ref, [material("M04", 3)], key, now=NOW) == third.outbox_id
    assert len(supplements(db)) == 3


@pytest.mark.parametrize(
    ("materials", "message"),
    [
        ([], "no materials"),
        ([material("M05", sha256="ABC")], "sha256"),
        ([material("M05", url="http://files.gd.gov.cn/x.pdf")], "url"),
        ([material("M05", size=-1)], "size"),
        ([material("M05", size="12")], "size"),
        ([material("M05", extra=1)], "extra"),
        (["M05"], "JSON object"),
        ([material("M05"), material("M05", 2)], "M05 given more than once"),
        ([material("M99")], "M99 is not a material of item"),
        ([material("M02")], "M02 \\(MAINLAND-DRIVING-LICENCE\\) was not requested"),
    ],
)
def test_refusals(db, keys, file_example, materials, message):
    case_ref = file_example("driving-licence-exchange-hk", delivered="TD-1")
    with db.factory() as session, session.begin():
        with pytest.raises(SupplementRefused, match=message):
            forward(session, case_ref, materials, keys.gateway_key(), now=NOW)
    assert supplements(db) == []


def test_unknown_undelivered_and_closed_cases_are_refused(db, keys, file_example):
    key = keys.gateway_key()
    with db.factory() as session, session.begin():
        with pytest.raises(SupplementRefused, match="no case GBA-0000"):
            forward(session, "GBA-0000", [material("M05")], key, now=NOW)
    case_ref = file_example("driving-licence-exchange-hk")
    with db.factory() as session, session.begin():
        with pytest.raises(SupplementRefused, match="has not been delivered to HK-TD yet"):
            forward(session, case_ref, [material("M05")], key, now=NOW)
    with db.factory() as session, session.begin():
        session.execute(update(Case).values(agency_case_ref="TD-9", state="REJECTED"))
    with db.factory() as session, session.begin():
        with pytest.raises(SupplementRefused, match="is closed \\(REJECTED\\)"):
            forward(session, case_ref, [material("M05")], key, now=NOW)
    assert supplements(db) == []


def test_a_repeat_after_the_case_closed_gets_its_first_answer(db, keys, file_example):
    """Idempotent: the platform repeating a supplement it already sent (say after a timeout)
    learns it was forwarded, whatever became of the case since; other materials are refused."""
    key = keys.gateway_key()
    case_ref = file_example("driving-licence-exchange-hk", delivered="TD-7")
    with db.factory() as session, session.begin():
        outbox_id = forward(session, case_ref, [material("M05")], key, now=NOW)
    with db.factory() as session, session.begin():
        session.execute(update(Case).values(state="COMPLETED"))
    with db.factory() as session, session.begin():
        again = forward_detailed(session, case_ref, [material("M05")], key, now=NOW)
    assert (again.outbox_id, again.created) == (outbox_id, False)
    with db.factory() as session, session.begin():
        with pytest.raises(SupplementRefused, match="is closed \\(COMPLETED\\)"):
            forward(session, case_ref, [material("M05", 2)], key, now=NOW)
    assert len(supplements(db)) == 1
