"""Acceptance 4: losing every broker message mid-run loses no case and delivers none twice.

The database outbox is the truth and the broker only wakes workers: rows published into a
broker that then forgets them come due again (``REPUBLISH_AFTER``) and the sweep or relay
publishes them anew. RabbitMQ: the worker is stopped so the deliveries sit in the queue, the
queue is purged, the worker restarted. Redis: the same, deleting the queue's key. Embedded:
``gbagw run`` is killed with SIGKILL mid-delivery (its in-process broker dies with it) and
started again.
"""

from __future__ import annotations

import signal
import time

from sqlalchemy import func, select

from gateway.delivery.relay import REPUBLISH_AFTER
from gateway.devkit.cluster import BROKERS, synthetic_applications
from gateway.store import transaction
from gateway.store.tables import Outbox

BEFORE, DURING = 6, 12  # cases delivered before the loss, cases in the broker when it is lost
RECOVERY = REPUBLISH_AFTER + 60  # the lost publishes come due again, plus a generous margin


def _lose_queue(c, mode: str) -> int:
    """Drop every message of the cluster's delivery queue; return how many were dropped."""
    queue = f"{c.name}.deliveries"
    if mode == "rabbitmq":
        from kombu import Connection

        with Connection(BROKERS["rabbitmq"]) as connection:
            return int(connection.default_channel.queue_purge(queue) or 0)
    import redis

    client = redis.Redis.from_url(BROKERS["redis"])
    try:
        # the list itself, and kombu's per-priority lists (queue + "\x06\x16" + priority)
        keys = [k for k in client.scan_iter(match=f"{queue}*") if client.type(k) == b"list"]
        dropped = sum(int(client.llen(k)) for k in keys)
        if keys:
            client.delete(*keys)
        return dropped
    finally:
        client.close()


def _published(c, refs: list[str]) -> int:
    """How many of these cases' rows a relay has handed to the broker (and not yet done)."""
    with transaction(c.runtime.sessions, read_only=True) as session:
        return int(
            session.scalar(
                select(func.count())
                .select_from(Outbox)
                .where(Outbox.case_ref.in_(refs), Outbox.relay_until.is_not(None))
            )
            or 0
        )


def _delivered(c, refs: list[str]) -> int:
    with transaction(c.runtime.sessions, read_only=True) as session:
        return int(
            session.scalar(
                select(func.count())
                .select_from(Outbox)
                .where(Outbox.case_ref.in_(refs), Outbox.state == "delivered")
            )
            or 0
        )


def test_every_case_is_delivered_once_after_the_broker_loses_its_messages(
    mode, deployments, harness
):
    apps = synthetic_applications(BEFORE + DURING)
    c = deployments(mode)
    if mode == "embedded":
        # slow agencies, so that the kill finds deliveries in flight and in the queue
        c.start_sandbox("HK", faults={"delay_seconds": 0.4})
        c.start_sandbox("MO", faults={"delay_seconds": 0.4})
    else:
        c.start_sandbox("HK")
        c.start_sandbox("MO")
    c.start()
    before = c.file(apps[:BEFORE])
    harness.settle(c, 90, "the cases filed before the loss")
    harness.assert_delivered_once(c, before)

    if mode == "embedded":
        during = c.file(apps[BEFORE:])
        harness.until(c, lambda: _delivered(c, during) >= 2, "the first deliveries", 60, 0.05)
        c.kill("run", signal.SIGKILL)
        states = c.outbox_states()
        lost = f"killed `gbagw run` with {states}"
        assert states["pending"] + states["sending"] > 0, harness.explain(
            c, f"every case was delivered before the kill: nothing was lost ({states})"
        )
        c.start("run")
    else:
        c.kill("worker", signal.SIGTERM)  # a warm shutdown: what it held goes back
        during = c.file(apps[BEFORE:])
        harness.until(c, lambda: _published(c, during) == DURING, "the relay publishing every row")
        harness.until(c, lambda: harness.queue_depth(c) >= DURING, "the messages in the queue")
        assert _delivered(c, during) == 0
        dropped = _lose_queue(c, mode)
        assert dropped >= DURING, harness.explain(c, f"only {dropped} messages were dropped")
        lost = f"dropped {dropped} messages (the queue held {DURING} deliveries and sweeps)"
        c.start("worker")

    lost_at = time.monotonic()
    harness.settle(c, RECOVERY, f"recovery after the broker loss ({lost})")
    recovered = time.monotonic() - lost_at
    print(f"\n{mode}: {lost}; every case delivered {recovered:.1f}s later")

    refs = before + during
    harness.assert_delivered_once(c, refs)
    assert c.outbox_states() == {
        "pending": 0,
        "sending": 0,
        "delivered": BEFORE + DURING,
        "dead": 0,
    }, harness.explain(c, "not everything was delivered")
    if mode != "embedded":
        # nothing was in flight when the messages were dropped: each was sent exactly once
        for region in ("HK", "MO"):
            sandbox = c.sandbox_store(region)
            for d in (harness.detail(c, r) for r in refs):
                if d.summary.region == region:
                    (delivery,) = [x for x in d.deliveries if x.kind == "submission"]
                    got = sandbox.count_messages(message_id=delivery.message_id)
                    assert got == 1, harness.explain(c, f"{d.summary.case_ref} was sent {got}×")
