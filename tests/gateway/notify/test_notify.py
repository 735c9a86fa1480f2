"""Notifications to Guangdong: queued in the caller's transaction, mapped from case changes,
signed per Standard Webhooks, claimed in order per case — on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest
from sqlalchemy import select, update
from sqlalchemy.orm import defer
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from gateway.notify import notify, on_case_change, ordering, webhook
from gateway.notify.events import GUANGDONG
from gateway.outbox import RetryPolicy, claim, record, redrive
from gateway.ports import Outcome
from gateway.store import file_case, transaction
from gateway.store.tables import Case, Message, Outbox
from gateway.store.testing import Backend, filing
from gateway.store.writes import Writes

T0 = dt.datetime(2026, 3, 2, 1, 0, tzinfo=dt.UTC)
POLICY = RetryPolicy(base_delay=10, factor=2, cap=300, jitter=0.2, max_attempts=3)


def at(seconds: float) -> dt.datetime:
    return T0 + dt.timedelta(seconds=seconds)


def file_one(db: Backend, n: int = 1, **application: Any) -> str:
    kwargs = filing(n)
    kwargs["application"] = {**kwargs["application"], **application}
    with transaction(db.factory) as session:
        file_case(session, **kwargs, now=T0)
    return str(kwargs["case_ref"])


def notifications(db: Backend, case_ref: str) -> list[tuple[Outbox, dict[str, Any]]]:
    with transaction(db.factory, read_only=True) as session:
        rows = session.execute(
            select(Outbox, Message.body, Message.message_id)
            .join(Message, Message.id == Outbox.message_pk)
            .where(Outbox.case_ref == case_ref, Outbox.kind == "notification")
            .order_by(Outbox.message_pk)
        ).all()
    out = []
    for row, body, message_id in rows:
        event = json.loads(body)
        assert event["id"] == message_id
        out.append((row, event))
    return out


def test_notify_stores_message_and_outbox_row_in_the_callers_transaction(db: Backend) -> None:
    ref = file_one(db)
    with db.factory() as session, session.begin():
        notify(session, ref, "case.overdue", {"committedDue": "2026-03-01"}, now=at(1))
        session.rollback()  # the caller's transaction fails: nothing was queued
    assert notifications(db, ref) == []

    with transaction(db.factory) as session:
        first = notify(session, ref, "case.overdue", {"committedDue": "2026-03-01"}, now=at(1))
        second = notify(session, ref, "material.overdue", {"materialCode": "M1"}, now=at(2))
    rows = notifications(db, ref)
    assert [event["id"] for _, event in rows] == [first, second]
    assert [event["seq"] for _, event in rows] == [1, 2]
    row, event = rows[0]
    assert (row.kind, row.destination, row.state, row.attempts) == (
        "notification",
        GUANGDONG,
        "pending",
        0,
    )
    assert list(event) == ["id", "type", "caseRef", "applicationNo", "seq", "occurredAt", "data"]
    assert event["type"] == "case.overdue" and event["caseRef"] == ref
    assert event["applicationNo"] == filing(1)["application_no"]
    assert event["occurredAt"] == "2026-03-02T01:00:01.000Z"
    assert event["data"] == {"committedDue": "2026-03-01"}


def test_notify_refuses_an_unknown_type_or_case(db: Backend) -> None:
    ref = file_one(db)
    with db.factory() as session, session.begin():
        with pytest.raises(ValueError, match="unknown notification type"):
            notify(session, ref, "case.gossip", {}, now=T0)
        with pytest.raises(LookupError):
            notify(session, "GBA-NOPE", "case.overdue", {}, now=T0)


def change(db: Backend, ref: str, state: str, **kwargs: Any) -> str | None:
    kwargs.setdefault("agency_status", None)
    kwargs.setdefault("remarks", None)
    kwargs.setdefault("details", {})
    with transaction(db.factory) as session:
        return on_case_change(session, ref, state=state, now=at(5), **kwargs)


def test_case_changes_map_to_event_types(db: Backend) -> None:
    ref = file_one(db, delivery={"channel": "ELECTRONIC"})
    assert change(db, ref, "delivered")
    assert change(db, ref, "ACCEPTED", agency_status="ACPT")
    assert change(db, ref, "INFO_REQUIRED", agency_status="SUPP") is None  # supplements' own
    assert change(db, ref, "IN_PROGRESS", agency_status="PROC")
    assert change(db, ref, "filed") is None
    assert change(
        db, ref, "REJECTED", agency_status="REJ", remarks="申請資料與記錄不符，請重新遞交。"
    )
    result = {"doc_id": "RESULT-1", "uri": "https://r.example/1.pdf", "sha256": "ab" * 32}
    assert change(db, ref, "COMPLETED", agency_status="DONE", details={"result": result})
    assert change(db, ref, "WITHDRAWN", agency_status="WD")

    rows = notifications(db, ref)
    types = [(e["type"], e["data"].get("status")) for _, e in rows]
    assert types == [
        ("case.progress", "DELIVERED"),
        ("case.progress", "ACCEPTED"),
        ("case.progress", "IN_PROGRESS"),
        ("case.result", "REJECTED"),
        ("case.result", "COMPLETED"),
        ("case.withdrawn", "WITHDRAWN"),
    ]
    assert [e["seq"] for _, e in rows] == [1, 2, 3, 4, 5, 6]
    rejected = rows[3][1]["data"]
    assert rejected["reason"] == "申请资料与记录不符，请重新递交。"  # Simplified for Guangdong
    assert rejected["reasonOriginal"] == "申請資料與記錄不符，請重新遞交。"
    assert rejected["deliveryChannel"] == "ELECTRONIC" and rejected["agencyStatus"] == "REJ"
    completed = rows[4][1]["data"]
    assert completed["resultDocument"] == {
        "docId": "RESULT-1",
        "uri": "https://r.example/1.pdf",
        "sha256": "ab" * 32,
    }
    # personal data stays out: the case is referenced, the applicant never named
    for _, event in rows:
        text = json.dumps(event, ensure_ascii=False)
        assert "陈大文" not in text and "91234567" not in text and "AB0001" not in text


@pytest.mark.parametrize("in_batch", [False, True])
def test_a_result_names_the_channel_without_unsealing_the_application(
    db: Backend, in_batch: bool
) -> None:
    """Filed now, the channel is the case's own column; filed before revision 0008 (NULL
    there), it is read from the application, in a batch too."""
    new = file_one(db, 1, delivery={"channel": "POST"})
    old = file_one(db, 2, delivery={"channel": "COUNTER"})
    with transaction(db.factory) as session:
        assert session.get(Case, new).delivery_channel == "POST"  # type: ignore[union-attr]
        session.execute(update(Case).where(Case.case_ref == old).values(delivery_channel=None))
    with transaction(db.factory) as session:
        cases = session.scalars(select(Case).options(defer(Case.application))).all()
        writes = Writes(session, cases) if in_batch else None
        for ref in (new, old):
            on_case_change(
                session,
                ref,
                state="APPROVED",
                agency_status="APP",
                remarks=None,
                details={},
                now=at(5),
                writes=writes,
            )
        if writes is not None:
            assert writes.application(new) is not None  # read for the old case, not needed
            writes.flush()
    channels = [notifications(db, ref)[0][1]["data"]["deliveryChannel"] for ref in (new, old)]
    assert channels == ["POST", "COUNTER"]


def test_signature_verifies_with_the_standard_webhooks_package() -> None:
    secret = webhook.new_secret()
    body = '{"id":"e1","type":"case.progress","data":{"status":"受理"}}'.encode()
    now = dt.datetime.now(dt.UTC)
    headers = webhook.headers(secret, "e1", body, now)
    assert headers["webhook-id"] == "e1"
    assert headers["webhook-timestamp"] == str(int(now.timestamp()))
    assert headers["webhook-signature"].startswith("v1,")
    assert Webhook(secret).verify(body, headers)["data"]["status"] == "受理"
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(body.replace(b"e1", b"e2"), headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(webhook.new_secret()).verify(body, headers)


@pytest.mark.parametrize(
    ("status", "outcome"),
    [(200, "delivered"), (204, "delivered"), (400, "permanent"), (404, "permanent")]
    + [(408, "retryable"), (429, "retryable"), (500, "retryable"), (503, "retryable")],
)
def test_http_status_decides_the_outcome(status: int, outcome: str) -> None:
    assert webhook.outcome_of(status) == Outcome(outcome)


def take(db: Backend, outbox_id: str, now: dt.datetime) -> Any:
    with transaction(db.factory) as session:
        return claim(session, outbox_id, worker="w1", lease_seconds=30, now=now)


def report(db: Backend, held: Any, outcome: str, now: dt.datetime) -> str | None:
    with transaction(db.factory) as session:
        return record(session, held, outcome, detail="test", now=now, policy=POLICY)


def test_claim_keeps_a_cases_notifications_in_order(db: Backend) -> None:
    ref, other = file_one(db, 1), file_one(db, 2)
    with transaction(db.factory) as session:
        for n in range(3):
            notify(session, ref, "case.overdue", {"n": n}, now=T0)
        notify(session, other, "case.overdue", {"n": 0}, now=T0)
    one, two, three = (row.id for row, _ in notifications(db, ref))
    (elsewhere,) = (row.id for row, _ in notifications(db, other))

    assert take(db, two, at(1)) is None  # row 1 pending
    assert take(db, elsewhere, at(1)) is not None  # another case is not held
    held = take(db, one, at(1))
    assert held is not None
    assert take(db, two, at(1)) is None  # row 1 sending
    assert report(db, held, "retryable", at(2)) == "pending"
    assert take(db, two, at(3)) is None  # row 1 waits for its retry
    (row_two, _) = notifications(db, ref)[1]
    (row_one, _) = notifications(db, ref)[0]
    assert row_two.state == "pending" and row_two.attempts == 0
    assert row_two.next_attempt_at >= row_one.next_attempt_at  # not republished before it

    held = take(db, one, at(60))
    assert report(db, held, "permanent", at(61)) == "dead"
    assert take(db, two, at(62)) is None  # a dead row holds the later ones
    assert take(db, two, at(200)) is None

    with transaction(db.factory) as session:
        redrive(session, [one], now=at(300))
    held = take(db, one, at(300))
    assert report(db, held, "delivered", at(301)) == "delivered"
    later = take(db, two, at(400))
    assert later is not None  # claimable once row 1 is delivered
    assert take(db, three, at(400)) is None  # row 2 is now the one in flight
    assert report(db, later, "delivered", at(401)) == "delivered"
    assert take(db, three, at(402)) is None  # held until row 2's lease end…
    with transaction(db.factory) as session:  # … unless woken, as deliver() does
        assert ordering.wake_next(session, two, at(401)) == three
    assert take(db, three, at(402)) is not None
