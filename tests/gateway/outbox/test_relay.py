"""The relay's view: due rows published once per interval, republished if lost; concurrent
relays and workers never share a row."""

from __future__ import annotations

import datetime as dt
import threading
from collections import Counter

import pytest

from gateway.outbox import Claim, RetryPolicy, claim, due, record
from gateway.store import transaction
from gateway.store.testing import Backend, enqueue_many

T0 = dt.datetime(2026, 3, 2, 1, 0, tzinfo=dt.UTC)


def at(seconds: float) -> dt.datetime:
    return T0 + dt.timedelta(seconds=seconds)


def test_due_rows_are_published_once_then_again_if_nothing_happened(db: Backend) -> None:
    rows = enqueue_many(db, 3, destination="HKTD", now=T0)
    later = enqueue_many(db, 1, destination="HKTD", now=at(500), start=10)
    with transaction(db.factory) as session:
        assert sorted(due(session, now=at(0), republish_after=60)) == sorted(rows)
        assert due(session, now=at(1), republish_after=60) == []  # already published
    with transaction(db.factory) as session:
        held = claim(session, rows[0], worker="w", lease_seconds=30, now=at(2))
        assert held is not None
        record(session, held, "delivered", now=at(3), policy=RetryPolicy())
    with transaction(db.factory) as session:
        # the publish of rows 1 and 2 was lost (broker down): the sweep sends them again
        assert sorted(due(session, now=at(60), republish_after=60)) == sorted(rows[1:])
        assert later[0] not in due(session, now=at(499))


@pytest.mark.parametrize("rows", [200])
def test_concurrent_relays_and_workers_never_share_a_row(db: Backend, rows: int) -> None:
    ids = enqueue_many(db, rows, destination="HKTD", now=T0)
    published: list[list[str]] = [[], []]
    claimed: list[list[Claim]] = [[], []]
    errors: list[BaseException] = []
    start = threading.Barrier(2)

    def relay_and_work(me: int) -> None:
        try:
            start.wait()
            while True:
                with transaction(db.factory) as session:
                    batch = due(session, now=at(0), limit=10, per_destination=rows)
                if not batch:
                    return
                published[me].extend(batch)
                # both workers race for every row of this batch, the other relay's too
                for outbox_id in batch + published[1 - me][-3:]:
                    with transaction(db.factory) as session:
                        held = claim(
                            session,
                            outbox_id,
                            worker=f"w{me}",
                            lease_seconds=60,
                            now=at(1),
                            max_in_flight=rows,
                        )
                    if held is not None:
                        claimed[me].append(held)
        except BaseException as error:  # noqa: BLE001 - reported below
            errors.append(error)

    threads = [threading.Thread(target=relay_and_work, args=(me,)) for me in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []
    assert not set(published[0]) & set(published[1])
    assert sorted(published[0] + published[1]) == sorted(ids)
    taken = Counter(c.outbox_id for c in claimed[0] + claimed[1])
    assert set(taken) == set(ids) and max(taken.values()) == 1


def test_oldest_rows_first(db: Backend) -> None:
    old = enqueue_many(db, 2, destination="HKTD", now=T0 - dt.timedelta(minutes=5))
    enqueue_many(db, 2, destination="HKTD", now=T0, start=5)
    with transaction(db.factory) as session:
        assert sorted(due(session, now=at(0), limit=2)) == sorted(old)


# PostgreSQL only: on SQLite the second relay waits for the first's writer lock instead.
@pytest.mark.parametrize("backend", ["postgresql"], indirect=True)
def test_skip_locked_lets_a_second_relay_take_the_rest_without_waiting(db: Backend) -> None:
    ids = enqueue_many(db, 200, destination="HKTD", now=T0)
    with db.factory() as first, first.begin():
        held = due(first, now=at(0), limit=50, per_destination=200)
        with db.factory() as second, second.begin():
            second.connection().exec_driver_sql("SET LOCAL lock_timeout = '2s'")
            rest = due(second, now=at(0), limit=500, per_destination=200)
    assert len(held) == 50 and len(rest) == 150
    assert sorted(held + rest) == sorted(ids)
