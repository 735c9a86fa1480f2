"""The inbound path over real HTTP: a pushed StatusNotice is stored raw, then verified and
applied — or quarantined (kept, listed, never applied) and answered with a CBCE Fault.

Real signatures (the session's development keys), the gateway's real app (``gateway.api``),
on SQLite and PostgreSQL (the ``db`` fixture).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from lxml import etree
from sqlalchemy import func, select

from adapters.hk import FORMAT
from gateway.api.app import create_app
from gateway.config import Settings
from gateway.delivery.runtime import Runtime
from gateway.domain import MessageHeader, PendingDocument, StatusEvent, StatusReport
from gateway.inbound.testing import case_state, file_case_for
from gateway.serve import serving
from gateway.store import transaction
from gateway.store.clients import Role, add_client
from gateway.store.tables import AgencyEvent, Message
from gateway.store.testing import Backend
from signing import KeyDirectory, sign
from signing.parties import GATEWAY_PARTY

PATH = "/cbce/v1/status-notices"
GBAGW = str(Path(sys.executable).with_name("gbagw"))
CASE = "GBA-00000000000000000A01"
T0 = dt.datetime(2026, 3, 2, 1, 0, tzinfo=dt.UTC)
SCRIPT = ["RECEIVED", "ACCEPTED", "IN_PROGRESS", "APPROVED", "COMPLETED"]


def notice(
    keys: KeyDirectory,
    seq: int,
    status: str,
    *,
    case_ref: str = CASE,
    sender: str = "HK-TD",
    signer: KeyDirectory | None = None,
    recipient: str = GATEWAY_PARTY,
    message_id: str | None = None,
) -> bytes:
    now = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1)
    report = StatusReport(
        header=MessageHeader(
            message_id=message_id
            or f"00000000-0000-4000-8000-{seq:04d}{abs(hash(case_ref)) % 10**8:08d}",
            case_ref=case_ref,
            sent_at=now,
            sender=sender,
            recipient=recipient,
        ),
        agency_case_ref="TD-2026-1",
        events=[
            StatusEvent(
                seq=seq,
                agency_status=status,
                changed_at=T0 + dt.timedelta(hours=min(seq, 1000)),
                required_documents=[PendingDocument(type="ID", due_date=dt.date(2026, 3, 20))]
                if status == "INFO_REQUIRED"
                else [],
            )
        ],
    )
    root = sign(FORMAT.render_status(report), (signer or keys).agency_key(sender))
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


def bearer(db: Backend, agency: str) -> dict[str, str]:
    """The header an agency pushes with: a token of a client of role ``agency:<agency>``."""
    with transaction(db.factory) as session:
        _, token = add_client(session, f"pusher-{agency}", Role("agency", agency))
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def gateway(db: Backend, keys: KeyDirectory) -> Iterator[httpx.Client]:
    """The gateway's app, pushed to by HK-TD's client (the agency CASE was sent to)."""
    runtime = Runtime(Settings(database_url=db.url, keys=keys.path, max_input_bytes=200_000))
    file_case_for(db.factory, CASE, "HK-TD")
    try:
        with (
            serving(create_app(runtime)) as url,
            httpx.Client(base_url=url, headers=bearer(db, "HK-TD")) as http,
        ):
            yield http
    finally:
        runtime.close()


def fault(response: httpx.Response) -> str:
    assert response.status_code == 400, response.text
    return FORMAT.parse_fault(etree.fromstring(response.content))[0]


def messages(db: Backend) -> list[Message]:
    with transaction(db.factory, read_only=True) as session:
        rows = session.scalars(select(Message).where(Message.direction == "in")).all()
        session.expunge_all()
    return list(rows)


def gbagw(db: Backend, keys: KeyDirectory, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GBAGW_")}
    env |= {"GBAGW_DATABASE_URL": db.url, "GBAGW_KEYS": str(keys.path)}
    return subprocess.run(
        [GBAGW, *args], env=env, capture_output=True, text=True, timeout=60, check=False
    )


def test_a_pushed_notice_is_stored_then_applied(
    db: Backend, keys: KeyDirectory, gateway: httpx.Client
) -> None:
    body = notice(keys, 1, "RECEIVED")
    assert gateway.post(PATH, content=body).status_code == 204
    assert case_state(db.factory, CASE) == ("RECEIVED", [1])
    (message,) = messages(db)
    assert message.body == body and message.verified and message.quarantine_reason is None
    assert message.via == "push" and message.case_ref == CASE and message.counterpart == "HK-TD"
    assert message.kind == "StatusNotice" and not message.message_id.startswith("sha256:")
    with transaction(db.factory, read_only=True) as session:
        event = session.scalars(select(AgencyEvent)).one()
        assert (event.message_pk, event.source) == (message.id, "push")


def test_the_same_bytes_again_are_204_and_change_nothing(
    db: Backend, keys: KeyDirectory, gateway: httpx.Client
) -> None:
    body = notice(keys, 1, "RECEIVED")
    assert gateway.post(PATH, content=body).status_code == 204
    before = case_state(db.factory, CASE)
    assert gateway.post(PATH, content=body).status_code == 204
    assert case_state(db.factory, CASE) == before
    assert len(messages(db)) == 1


def test_out_of_order_pushes_end_in_the_in_order_state(
    db: Backend, keys: KeyDirectory, gateway: httpx.Client
) -> None:
    bodies = [notice(keys, seq, status) for seq, status in enumerate(SCRIPT, 1)]
    for i in (1, 0, 3, 4, 2, 4):
        assert gateway.post(PATH, content=bodies[i]).status_code == 204
    assert case_state(db.factory, CASE) == ("COMPLETED", [1, 2, 3, 4, 5])
    assert all(m.verified for m in messages(db)) and len(messages(db)) == 5


def test_a_wrong_key_is_400_signature_and_listed_as_quarantined(
    db: Backend, keys: KeyDirectory, gateway: httpx.Client, tmp_path: Path
) -> None:
    stranger = KeyDirectory(tmp_path / "other-keys")
    stranger.init()
    body = notice(keys, 1, "RECEIVED", signer=stranger)
    assert fault(gateway.post(PATH, content=body)) == "SIGNATURE"
    assert case_state(db.factory, CASE) == ("filed", [])
    (message,) = messages(db)
    assert message.body == body and not message.verified
    assert message.quarantine_reason and message.quarantine_reason.startswith("SIGNATURE")

    listed = gbagw(db, keys, "inbound", "list", "--quarantined", "--json")
    assert listed.returncode == 0, listed.stderr
    (row,) = json.loads(listed.stdout)
    assert row["id"] == message.id and row["via"] == "push" and "SIGNATURE" in row["reason"]
    table = gbagw(db, keys, "inbound", "list", "--quarantined")
    assert table.returncode == 0 and message.sha256[:12] in table.stdout


def test_a_notice_signed_by_another_registered_agency_is_unauthorised(
    db: Backend, keys: KeyDirectory, gateway: httpx.Client
) -> None:
    body = notice(keys, 1, "APPROVED", sender="HK-CR")  # registered, but CASE went to HK-TD
    assert fault(gateway.post(PATH, content=body, headers=bearer(db, "HK-CR"))) == "UNAUTHORISED"
    assert case_state(db.factory, CASE) == ("filed", [])
    (message,) = messages(db)
    assert not message.verified and "HK-TD" in (message.quarantine_reason or "")
    assert message.case_ref == CASE


def test_a_notice_not_addressed_to_the_gateway_is_refused(
    db: Backend, keys: KeyDirectory, gateway: httpx.Client
) -> None:
    body = notice(keys, 1, "RECEIVED", recipient="SOMEONE-ELSE")
    assert fault(gateway.post(PATH, content=body)) == "SCHEMA"  # the XSD fixes the recipient
    assert case_state(db.factory, CASE) == ("filed", [])


def test_an_unknown_case_is_quarantined(
    db: Backend, keys: KeyDirectory, gateway: httpx.Client
) -> None:
    body = notice(keys, 1, "RECEIVED", case_ref="GBA-00000000000000000FFF")
    assert fault(gateway.post(PATH, content=body)) == "UNKNOWN_CASE"
    (message,) = messages(db)
    assert not message.verified and message.case_ref is None
    assert (message.quarantine_reason or "").startswith("UNKNOWN_CASE")


@pytest.mark.parametrize("seq", [2**31, 10**20], ids=["int4", "20-digits"])
def test_a_sequence_number_the_store_cannot_hold_is_quarantined_not_retried_forever(
    db: Backend, keys: KeyDirectory, gateway: httpx.Client, seq: int
) -> None:
    body = notice(keys, seq, "IN_PROGRESS", message_id="00000000-0000-4000-8000-000000000777")
    assert fault(gateway.post(PATH, content=body)) == "SCHEMA"
    assert fault(gateway.post(PATH, content=body)) == "SCHEMA"  # the same answer again
    (message,) = messages(db)
    assert not message.verified and f"sequence number {seq}" in (message.quarantine_reason or "")
    assert case_state(db.factory, CASE) == ("filed", [])
    assert gateway.post(PATH, content=notice(keys, 1, "RECEIVED")).status_code == 204


def test_a_repeat_pushed_by_another_agency_is_refused_as_a_fresh_push_would_be(
    db: Backend, keys: KeyDirectory, gateway: httpx.Client
) -> None:
    body = notice(keys, 1, "RECEIVED")
    assert gateway.post(PATH, content=body).status_code == 204
    # HK-SWD must not learn whether HK-TD's document was received: 400, not 204
    assert fault(gateway.post(PATH, content=body, headers=bearer(db, "HK-SWD"))) == "UNAUTHORISED"
    (message,) = messages(db)
    assert message.verified and message.counterpart == "HK-TD"  # the stored row is untouched
    assert gateway.post(PATH, content=body).status_code == 204  # its own agency: still 204


XXE = (
    b'<?xml version="1.0"?><!DOCTYPE n [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
    b'<n xmlns="urn:x">&x;</n>'
)
LAUGHS = (
    b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
    + b"".join(
        f'<!ENTITY lol{i} "{f"&lol{i - 1};" * 10 if i > 1 else "&lol;" * 10}">'.encode()
        for i in range(1, 10)
    )
    + b"]><lolz>&lol9;</lolz>"
)


@pytest.mark.parametrize(
    "body", [b"<not xml", XXE, LAUGHS, b"<x:StatusNotice xmlns:x='urn:nobody'/>"]
)
def test_hostile_or_malformed_bodies_are_400_kept_raw_and_the_service_stays_up(
    db: Backend, keys: KeyDirectory, gateway: httpx.Client, body: bytes
) -> None:
    assert fault(gateway.post(PATH, content=body)) == "SCHEMA"
    (message,) = messages(db)
    assert message.body == body and not message.verified and message.via == "push"
    assert gateway.get("/healthz").status_code == 200
    assert gateway.post(PATH, content=notice(keys, 1, "RECEIVED")).status_code == 204


def test_an_oversize_body_is_413_and_not_stored(
    db: Backend, keys: KeyDirectory, gateway: httpx.Client
) -> None:
    huge = b"<a>" + b"x" * 300_000 + b"</a>"
    assert gateway.post(PATH, content=huge).status_code == 413

    def chunks() -> Iterator[bytes]:  # no Content-Length: the receiver stops reading
        for _ in range(40):
            yield b"y" * 10_000

    assert gateway.post(PATH, content=chunks()).status_code == 413
    assert messages(db) == []
    assert gateway.get("/readyz").json() == {"status": "ready"}


def test_a_gap_is_recorded_and_an_info_required_opens_a_request(
    db: Backend, keys: KeyDirectory, gateway: httpx.Client
) -> None:
    assert gateway.post(PATH, content=notice(keys, 1, "RECEIVED")).status_code == 204
    assert gateway.post(PATH, content=notice(keys, 3, "INFO_REQUIRED")).status_code == 204
    assert case_state(db.factory, CASE) == ("INFO_REQUIRED", [1, 3])
    from gateway.store.tables import CaseEvent

    with transaction(db.factory, read_only=True) as session:
        gaps = session.scalar(
            select(func.count()).where(CaseEvent.case_ref == CASE, CaseEvent.event == "gap")
        )
    assert gaps == 1


def test_a_fetched_report_is_stored_and_applied_as_its_transport_says(
    db: Backend, keys: KeyDirectory
) -> None:
    from gateway.inbound.receive import Inbound

    file_case_for(db.factory, CASE, "HK-TD")
    inbound = Inbound(db.factory, keys.trust_store(), max_bytes=200_000)
    body = notice(keys, 2, "ACCEPTED")
    report = FORMAT.parse_status(etree.fromstring(body))
    first = inbound.record_fetched(report, body, via="pull", agency="HK-TD")
    assert first.quarantined is None and first.applied and first.applied.stored == (2,)
    again = inbound.record_fetched(report, body, via="pull", agency="HK-TD")
    assert again.duplicate and again.message_pk == first.message_pk
    assert case_state(db.factory, CASE) == ("ACCEPTED", [2])
    with transaction(db.factory, read_only=True) as session:
        assert session.scalars(select(AgencyEvent.source)).all() == ["pull"]

    other = notice(keys, 3, "APPROVED")
    wrong = inbound.record_fetched(
        FORMAT.parse_status(etree.fromstring(other)), other, via="poll", agency="HK-CR"
    )
    assert wrong.code == "UNAUTHORISED" and wrong.applied is None
    assert case_state(db.factory, CASE) == ("ACCEPTED", [2])

    kept = inbound.quarantine_fetched(
        b"<garbage/>", via="pull", agency="HK-TD", case_ref=CASE, reason="signature rejected"
    )
    assert kept.quarantined == "signature rejected"
    rows = {m.id: m for m in messages(db)}
    assert rows[kept.message_pk].case_ref == CASE and not rows[kept.message_pk].verified
    assert rows[first.message_pk].via == "pull" and rows[first.message_pk].verified


def test_concurrent_pushes_over_http_are_all_stored_and_applied_in_sequence_order(
    db: Backend, keys: KeyDirectory, gateway: httpx.Client
) -> None:
    """Twelve clients pushing at once: the receiver's threads share batches (group commit);
    every push is answered 204 after it is stored, and every case ends in sequence order."""
    import random
    from concurrent.futures import ThreadPoolExecutor

    refs = [f"GBA-00000000000000000E{n:02X}" for n in range(4)]
    for ref in refs:
        file_case_for(db.factory, ref, "HK-TD")
    bodies = [
        notice(keys, seq, status, case_ref=ref)
        for ref in refs
        for seq, status in enumerate(SCRIPT, 1)
    ]
    random.Random(7).shuffle(bodies)
    headers = dict(gateway.headers)

    def push(body: bytes) -> int:
        with httpx.Client(base_url=str(gateway.base_url), headers=headers) as client:
            return client.post(PATH, content=body).status_code

    with ThreadPoolExecutor(12) as pool:
        assert list(pool.map(push, bodies)) == [204] * len(bodies)
    for ref in refs:
        assert case_state(db.factory, ref) == ("COMPLETED", [1, 2, 3, 4, 5])
    assert all(m.verified for m in messages(db)) and len(messages(db)) == len(bodies)
