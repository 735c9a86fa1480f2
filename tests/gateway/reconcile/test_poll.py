"""``poll_due``: one batch of due open cases, per-agency limits, breakers respected, every
asked case rescheduled whatever the answer; and end to end against the real sandbox agencies
(in-process on loopback): a delivered case reaches the sandbox's final state by polls (Macao)
or pulls (HK) alone, also when the agency repeats or reorders its notices. Both backends."""

from __future__ import annotations

import datetime as dt
import json
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, update

from gateway.agencies.directory import AgencyDirectory
from gateway.cases.filing import Filing
from gateway.config import Settings
from gateway.delivery.deliver import deliver
from gateway.delivery.runtime import Runtime
from gateway.devkit.examples import bundled_examples
from gateway.inbound.testing import case_state, file_case_for
from gateway.ports import AgencyCallFailed, AgencyClient, DeliveryResult, Outcome, Polled
from gateway.reconcile import gaps, schedule
from gateway.reconcile.poll import UNKNOWN_AT_AGENCY, Asked, poll_due
from gateway.reconcile.schedule import PollPolicy
from gateway.registry import sandbox_factory
from gateway.render.pipeline import Pipeline
from gateway.serve import serving
from gateway.store import transaction
from gateway.store.digest import sha256_hex
from gateway.store.tables import AgencyBreaker, Case, CaseEvent, Message, Outbox
from gateway.store.testing import Backend
from signing import KeyDirectory
from tests.gateway.reconcile.conftest import add_agency_events

NOW = dt.datetime(2026, 3, 2, 1, 0, tzinfo=dt.UTC)
S = dt.timedelta(seconds=1)
POLICY = PollPolicy()


class FakeClient:
    """Answers ``poll`` from a script per case: None, a Polled, or an exception to raise."""

    def __init__(self, answers: dict[str, Any] | None = None):
        self.answers = answers or {}
        self.asked: list[tuple[str, int | None]] = []
        self._lock = threading.Lock()

    def poll(self, case_ref: str, since_seq: int | None = None) -> Polled | None:
        with self._lock:
            self.asked.append((case_ref, since_seq))
        answer = self.answers.get(case_ref)
        if isinstance(answer, Exception):
            raise answer
        return answer

    def fetch_status(self, case_ref: str, since_seq: int | None = None) -> Any:
        polled = self.poll(case_ref, since_seq)
        return None if polled is None else polled.report

    def submit(self, signed_document: bytes) -> DeliveryResult:
        raise NotImplementedError

    def send_supplement(self, case_ref: str, signed_document: bytes) -> DeliveryResult:
        raise NotImplementedError

    def close(self) -> None:
        pass


class FakeRuntime(Runtime):
    def __init__(self, config: Settings, clients: dict[str, FakeClient]):
        super().__init__(config)
        self.fakes = clients

    def client(self, code: str) -> AgencyClient:
        return self.fakes.setdefault(code, FakeClient())


@pytest.fixture
def settings(db: Backend, keys: KeyDirectory) -> Settings:
    return Settings(database_url=db.url, keys=keys.path, poll_agency_spacing=0)


def _open_case(
    db: Backend,
    n: int,
    agency: str,
    *,
    region: str = "MO",
    due: dt.datetime | None = NOW - S,
    state: str = "IN_PROGRESS",
    last_seq: int = 0,
) -> str:
    ref = file_case_for(db.factory, f"GBA-{n:020X}", agency, region=region, now=NOW - S)
    with transaction(db.factory) as session:
        session.execute(
            update(Case)
            .where(Case.case_ref == ref)
            .values(state=state, next_poll_at=due, last_seq=last_seq)
        )
    return ref


def _next_poll(db: Backend, ref: str) -> dt.datetime | None:
    with transaction(db.factory, read_only=True) as session:
        return session.scalar(select(Case.next_poll_at).where(Case.case_ref == ref))


def test_only_due_open_cases_are_asked_and_each_is_rescheduled(
    db: Backend, settings: Settings
) -> None:
    due = _open_case(db, 1, "MO-DSAT")
    later = _open_case(db, 2, "MO-DSAT", due=NOW + 10 * S)
    closed = _open_case(db, 3, "MO-DSAT", due=None, state="COMPLETED")
    filed = _open_case(db, 4, "MO-DSAT", due=None, state="filed")
    runtime = FakeRuntime(settings, {})
    heard: list[Asked] = []
    assert poll_due(runtime, now=NOW, policy=POLICY, on_asked=heard.append) == 1
    assert runtime.fakes["MO-DSAT"].asked == [(due, None)]  # no status yet: every event
    assert heard == [Asked(due, "MO-DSAT", "unknown")]
    assert _next_poll(db, due) == NOW + POLICY.retry(S)  # rescheduled, not due again now
    assert (_next_poll(db, later), _next_poll(db, closed), _next_poll(db, filed)) == (
        NOW + 10 * S,
        None,
        None,
    )
    assert poll_due(runtime, now=NOW, policy=POLICY) == 0


def _agency_events(db: Backend, ref: str, seqs: list[int]) -> None:
    with transaction(db.factory) as session:
        add_agency_events(session, ref, seqs, agency_status="ADMITIDO", status="ACCEPTED", at=NOW)
        session.execute(update(Case).where(Case.case_ref == ref).values(last_seq=max(seqs)))


def test_since_is_the_last_applied_sequence_or_the_end_of_the_gap_free_prefix(
    db: Backend, settings: Settings
) -> None:
    complete = _open_case(db, 6, "MO-DSAT")
    gapped = _open_case(db, 7, "MO-DSAT")
    _agency_events(db, complete, [1, 2])
    _agency_events(db, gapped, [1, 2, 4])
    runtime = FakeRuntime(settings, {})
    assert poll_due(runtime, now=NOW, policy=POLICY) == 2
    assert sorted(runtime.fakes["MO-DSAT"].asked) == [(complete, 2), (gapped, 2)]
    _agency_events(db, gapped, [5])
    with transaction(db.factory) as session:
        session.execute(update(Case).values(next_poll_at=NOW))
    runtime.fakes["MO-DSAT"].asked.clear()
    poll_due(runtime, now=NOW, policy=POLICY)
    assert sorted(runtime.fakes["MO-DSAT"].asked) == [(complete, 2), (gapped, 2)]


def _gap_events(db: Backend, ref: str) -> list[tuple[str, str | None]]:
    with transaction(db.factory, read_only=True) as session:
        rows = session.execute(
            select(CaseEvent.event, CaseEvent.detail)
            .where(CaseEvent.case_ref == ref, CaseEvent.event.in_([gaps.ASKED, gaps.GIVEN_UP]))
            .order_by(CaseEvent.seq)
        )
        return [(event, detail) for event, detail in rows]


def test_a_closed_case_with_a_gap_is_asked_again_boundedly_one_without_is_not(
    db: Backend, settings: Settings
) -> None:
    gapped = _open_case(db, 70, "MO-DSAT", state="COMPLETED", due=None)
    whole = _open_case(db, 71, "MO-DSAT", state="COMPLETED", due=None)
    pushed = _open_case(db, 72, "HK-TD", region="HK", state="COMPLETED", due=None)
    _agency_events(db, gapped, [2, 3])  # seq 1 held back; 3 closed the case
    _agency_events(db, whole, [1, 2, 3])
    _agency_events(db, pushed, [3])
    with transaction(db.factory) as session:  # the answers that closed them
        for ref in (gapped, whole, pushed):
            schedule.after_contact(session, ref, state="COMPLETED", now=NOW, policy=POLICY)
    # no gap: off the schedule; HK's pull brings the latest notice only: given up at once
    assert (_next_poll(db, whole), _next_poll(db, pushed)) == (None, None)
    assert _next_poll(db, gapped) == NOW + POLICY.gap_retry(0)
    (given_up,) = _gap_events(db, pushed)
    assert given_up[0] == gaps.GIVEN_UP and "1–2" in (given_up[1] or "")

    # the agency stays down: every ask counts, each backed off more, then it stops
    down = AgencyCallFailed(DeliveryResult(Outcome.RETRYABLE, detail="HTTP 503"))
    runtime = FakeRuntime(settings, {"MO-DSAT": FakeClient({gapped: down})})
    waits = []
    while (due := _next_poll(db, gapped)) is not None:
        assert poll_due(runtime, now=due, policy=POLICY) == (
            1 if len(waits) < POLICY.gap_asks else 0
        )
        nxt = _next_poll(db, gapped)
        waits.append(None if nxt is None else nxt - due)
    assert waits == [POLICY.gap_retry(n) for n in range(1, POLICY.gap_asks + 1)] + [None]
    # asked from the sequence before the gap, so SIP resends it; never about the others
    assert runtime.fakes["MO-DSAT"].asked == [(gapped, None)] * POLICY.gap_asks
    assert "HK-TD" not in runtime.fakes
    history = _gap_events(db, gapped)
    assert [e for e, _ in history] == [gaps.ASKED] * POLICY.gap_asks + [gaps.GIVEN_UP]
    assert "sequence 1 never received" in (history[-1][1] or "")
    assert _gap_events(db, whole) == []
    assert poll_due(runtime, now=NOW + dt.timedelta(days=365), policy=POLICY) == 0
    assert case_state(db.factory, gapped) == ("COMPLETED", [2, 3])  # the terminal state kept


def test_unknown_at_the_agency_is_a_case_event_once_in_a_row(
    db: Backend, settings: Settings
) -> None:
    ref = _open_case(db, 5, "MO-DSAT")
    runtime = FakeRuntime(settings, {})
    for step in range(3):
        now = NOW + step * dt.timedelta(hours=1)
        assert poll_due(runtime, now=now, policy=POLICY) == 1
    with transaction(db.factory, read_only=True) as session:
        events = session.scalars(
            select(CaseEvent.event).where(
                CaseEvent.case_ref == ref, CaseEvent.event == UNKNOWN_AT_AGENCY
            )
        ).all()
    assert len(events) == 1


def test_per_agency_limit_and_the_rest_of_the_batch_is_not_starved(
    db: Backend, settings: Settings
) -> None:
    busy = [_open_case(db, 10 + n, "MO-DSAT", due=NOW - (100 - n) * S) for n in range(6)]
    other = _open_case(db, 30, "MO-DSI", due=NOW - S)
    runtime = FakeRuntime(settings, {})
    # the batch holds the five most overdue, all of one agency: two asked, three deferred
    assert poll_due(runtime, now=NOW, policy=POLICY, limit=2, batch=5) == 2
    assert [r for r, _ in runtime.fakes["MO-DSAT"].asked] == busy[:2]  # most overdue first
    # one beat later the other agency's case comes first: deferring never starves it
    later = NOW + settings.poll_interval * S
    assert poll_due(runtime, now=later, policy=POLICY, limit=2, batch=5) == 3
    assert [r for r, _ in runtime.fakes["MO-DSI"].asked] == [other]
    assert [r for r, _ in runtime.fakes["MO-DSAT"].asked][2:] == [busy[5], busy[2]]


def test_failures_are_rescheduled_with_backoff_and_do_not_block_the_batch(
    db: Backend, settings: Settings
) -> None:
    down = _open_case(db, 40, "MO-DSAT", due=NOW - 3 * S)
    broken = _open_case(db, 41, "MO-DSAT", due=NOW - 2 * S)
    fine = _open_case(db, 42, "MO-DSAT", due=NOW - 1 * S)
    with transaction(db.factory) as session:  # silent for two hours
        session.execute(update(Case).values(last_contact_at=NOW - 2 * dt.timedelta(hours=1)))
    client = FakeClient(
        {
            down: AgencyCallFailed(DeliveryResult(Outcome.RETRYABLE, detail="HTTP 503")),
            broken: RuntimeError("a bug in one case"),
        }
    )
    heard: list[Asked] = []
    runtime = FakeRuntime(settings, {"MO-DSAT": client})
    assert poll_due(runtime, now=NOW, policy=POLICY, on_asked=heard.append) == 3
    assert [a.outcome for a in heard] == ["retryable", "error", "unknown"]
    assert _next_poll(db, down) == NOW + dt.timedelta(hours=1)  # half the silence
    assert _next_poll(db, broken) == NOW + dt.timedelta(hours=1)
    assert _next_poll(db, fine) is not None


def test_an_unbelievable_answer_is_quarantined_with_its_bytes(
    db: Backend, settings: Settings
) -> None:
    ref = _open_case(db, 50, "MO-DSAT")
    body = b"<EstadoProcesso>signed by someone else</EstadoProcesso>"
    failed = AgencyCallFailed(
        DeliveryResult(Outcome.PERMANENT, detail="signature rejected", document=body)
    )
    runtime = FakeRuntime(settings, {"MO-DSAT": FakeClient({ref: failed})})
    heard: list[Asked] = []
    assert poll_due(runtime, now=NOW, policy=POLICY, on_asked=heard.append) == 1
    assert heard[0].outcome == "quarantined"
    with transaction(db.factory, read_only=True) as session:
        # bodies are encrypted at rest (a fresh nonce each): found by their digest
        kept = session.scalars(select(Message).where(Message.sha256 == sha256_hex(body))).one()
        assert (kept.via, kept.verified) == ("poll", False)
        assert "signature rejected" in (kept.quarantine_reason or "")
    assert _next_poll(db, ref) is not None and case_state(db.factory, ref)[1] == []


def test_an_agency_paused_by_its_breaker_is_not_asked(db: Backend, settings: Settings) -> None:
    paused = _open_case(db, 60, "MO-DSAT")
    other = _open_case(db, 61, "MO-DSI")
    with transaction(db.factory) as session:
        session.add(
            AgencyBreaker(
                agency="MO-DSAT",
                state="open",
                consecutive_failures=5,
                open_until=NOW + 30 * S,
                updated_at=NOW,
            )
        )
    runtime = FakeRuntime(settings, {})
    assert poll_due(runtime, now=NOW, policy=POLICY) == 1
    assert "MO-DSAT" not in runtime.fakes and runtime.fakes["MO-DSI"].asked == [(other, None)]
    assert _next_poll(db, paused) == NOW - S  # still due: asked once the agency is back


# --- end to end against the real sandboxes ----------------------------------------------------


def _example(region: str) -> dict[str, Any]:
    path = next(p for p in bundled_examples() if p.stem == f"northbound-vehicle-{region.lower()}")
    data = json.loads(path.read_text(encoding="utf-8"))
    data["applicationNo"] = f"{data['applicationNo']}-{uuid.uuid4().hex[:8]}"
    return data


@pytest.fixture(scope="module")
def pipeline_() -> Pipeline:
    return Pipeline()


@pytest.fixture
def sandbox(
    request: pytest.FixtureRequest, keys: KeyDirectory, tmp_path: Path
) -> Iterator[tuple[str, str]]:
    region, faults = request.param
    app = sandbox_factory(region)(
        {
            "region": region,
            "keys_dir": str(keys.path),
            "database": str(tmp_path / f"{region.lower()}.sqlite"),
            "step_seconds": 0,
            "faults": faults,
        }
    )
    with serving(app) as base:
        yield region, base + ("/sip" if region == "MO" else "")


@pytest.mark.parametrize(
    "sandbox",
    [
        ("MO", {}),
        ("MO", {"duplicate_notices": True}),
        ("MO", {"out_of_order_notices": True}),
        ("HK", {}),
        ("HK", {"duplicate_notices": True}),
        ("HK", {"out_of_order_notices": True}),
    ],
    indirect=True,
    ids=["mo", "mo-duplicates", "mo-out-of-order", "hk", "hk-duplicates", "hk-out-of-order"],
)
def test_a_delivered_case_completes_by_polls_alone(
    sandbox: tuple[str, str], db: Backend, keys: KeyDirectory, pipeline_: Pipeline
) -> None:
    region, url = sandbox
    directory = AgencyDirectory.load(None).with_sandboxes({region: url})
    runtime = Runtime(Settings(database_url=db.url, keys=keys.path), directory)
    try:
        filed = Filing(pipeline_, keys.gateway_key(), runtime.sessions).file(_example(region))
        with transaction(runtime.sessions, read_only=True) as session:
            outbox_id = session.scalars(
                select(Outbox.id).where(Outbox.case_ref == filed.case_ref)
            ).one()
        assert deliver(runtime, outbox_id) == "delivered"
        assert _next_poll(db, filed.case_ref) is not None  # scheduled by the delivery
        now = dt.datetime.now(dt.UTC)
        asked = 0
        for _ in range(10):
            now += dt.timedelta(hours=2)  # past every interval, HK's silence threshold too
            asked += poll_due(runtime, now=now, policy=POLICY)
            # closed, and nothing more to ask for (SIP out of order: the held-back seq 1)
            if case_state(db.factory, filed.case_ref)[0] == "COMPLETED" and (
                _next_poll(db, filed.case_ref) is None
            ):
                break
        state, seqs = case_state(db.factory, filed.case_ref)
        assert state == "COMPLETED", (state, seqs, asked)
        assert seqs == ([1, 2, 3, 4, 5] if region == "MO" else [5])  # HK pull: the latest only
        if region == "MO":  # a gap (out of order) was filled by asking again, not given up
            assert gaps.GIVEN_UP not in [e for e, _ in _gap_events(db, filed.case_ref)]
        assert _next_poll(db, filed.case_ref) is None or poll_due(runtime, now=now) == 0
        assert poll_due(runtime, now=now + dt.timedelta(days=30)) == 0  # closed: never asked
        with transaction(runtime.sessions, read_only=True) as session:
            vias = set(
                session.scalars(
                    select(Message.via).where(
                        Message.case_ref == filed.case_ref, Message.direction == "in"
                    )
                )
            )
        assert ("pull" if region == "HK" else "poll") in vias
    finally:
        runtime.close()
