"""End to end: the real ``deliver()`` against the sandbox Guangdong receiver on loopback.

The receiver answers 503 for its first seconds; every notification still arrives once, in
order per case, with a signature the receiver verified. A tampered body is refused.
"""

from __future__ import annotations

import datetime as dt
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
from sqlalchemy import select

from gateway.config import Settings
from gateway.delivery.deliver import deliver
from gateway.delivery.runtime import Runtime
from gateway.devkit.gd_receiver import PATH, create_app
from gateway.notify import notify, webhook
from gateway.serve import serving
from gateway.store import file_case, transaction
from gateway.store.tables import Outbox
from gateway.store.testing import Backend, filing

CASES = 3
PER_CASE = 4
#: the receiver answers 503 to this many first requests (counted, not timed: under load the
#: filing before the first delivery outlasted a timed outage, and nothing was retried)
DOWN = 6


def _file(db: Backend) -> list[str]:
    refs = []
    now = dt.datetime.now(dt.UTC)
    with transaction(db.factory) as session:
        for n in range(1, CASES + 1):
            kwargs = filing(n)
            file_case(session, **kwargs, now=now)
            refs.append(kwargs["case_ref"])
    for k in range(PER_CASE):  # interleaved across cases, one transaction each
        for ref in refs:
            with transaction(db.factory) as session:
                notify(session, ref, "case.overdue", {"n": k}, now=dt.datetime.now(dt.UTC))
    return refs


def _due(db: Backend) -> tuple[list[str], int]:
    now = dt.datetime.now(dt.UTC)
    with transaction(db.factory, read_only=True) as session:
        rows = session.execute(
            select(Outbox.id, Outbox.state, Outbox.next_attempt_at).where(
                Outbox.kind == "notification"
            )
        ).all()
    due = [r.id for r in rows if r.state == "pending" and r.next_attempt_at <= now]
    return due, sum(1 for r in rows if r.state != "delivered")


def test_every_notification_arrives_once_in_order_after_an_outage(
    db: Backend, tmp_path: Path
) -> None:
    secret = webhook.new_secret()
    app = create_app(secret, tmp_path / "gd.db", unavailable_requests=DOWN)
    refs = _file(db)
    with serving(app) as base:
        config = Settings(
            database_url=db.url,
            keys=tmp_path / "keys",
            notify_url=base + PATH,
            notify_secret=secret,
            notify_retry_base_delay=0.2,
            notify_retry_cap=0.5,
            notify_max_attempts=100,
            notify_breaker_cooldown=0.3,
        )
        runtime = Runtime(config)
        try:
            deadline = time.monotonic() + 60
            with ThreadPoolExecutor(4) as pool:  # concurrent workers, as a deployment runs them
                while True:
                    due, left = _due(db)
                    if not left or time.monotonic() > deadline:
                        break
                    list(pool.map(lambda i: deliver(runtime, i), due))
                    time.sleep(0.05)
        finally:
            runtime.close()
        assert left == 0, f"{left} notifications not delivered"

        stats = httpx.get(base + "/stats").json()
        events = httpx.get(base + "/events").json()
        assert stats["unavailable"] > 0  # it really was down, and the gateway retried
        assert stats["refused"] == 0 and stats["repeats"] == 0 and stats["outOfOrder"] == 0
        assert len(events) == CASES * PER_CASE == len({e["id"] for e in events})
        for ref in refs:
            mine = [e for e in events if e["caseRef"] == ref]
            assert [e["seq"] for e in mine] == list(range(1, PER_CASE + 1))  # arrival order
            assert [e["event"]["data"]["n"] for e in mine] == list(range(PER_CASE))
            assert all(e["inOrder"] for e in mine)

        # a tampered body under valid headers is refused and not recorded
        with transaction(db.factory, read_only=True) as session:
            from gateway.store.tables import Message

            body, event_id = session.execute(
                select(Message.body, Message.message_id).where(Message.kind == "case.overdue")
            ).first()  # type: ignore[misc]
        headers = webhook.headers(secret, event_id, body, dt.datetime.now(dt.UTC))
        forged = body.replace(b'"n":', b'"n":1')
        answer = httpx.post(base + PATH, content=forged, headers=headers)
        assert answer.status_code == 400
        unsigned = httpx.post(base + PATH, content=body, headers={"webhook-id": event_id})
        assert unsigned.status_code == 400
        assert httpx.get(base + "/stats").json()["refused"] == 2
        assert len(httpx.get(base + "/events").json()) == CASES * PER_CASE


def test_without_a_webhook_notifications_stay_pending(db: Backend, tmp_path: Path) -> None:
    refs = _file(db)
    runtime = Runtime(Settings(database_url=db.url, keys=tmp_path / "keys", notify_url=""))
    try:
        due, left = _due(db)
        assert len(due) == CASES * PER_CASE
        assert all(deliver(runtime, i) is None for i in due)
    finally:
        runtime.close()
    with transaction(db.factory, read_only=True) as session:
        rows = session.scalars(select(Outbox).where(Outbox.kind == "notification")).all()
    assert {(r.state, r.attempts) for r in rows} == {("pending", 0)}
    assert all(r.next_attempt_at > dt.datetime.now(dt.UTC) for r in rows)  # not hot-looped
    assert refs
