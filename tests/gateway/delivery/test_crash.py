"""Crash test: SIGKILL the delivery roles again and again while 500 cases are filed.

Each test starts a whole deployment as real processes (``gateway.devkit.cluster``) with both
sandbox agencies, files 500 applications in a background thread (paced over the kill window,
so kills land while deliveries are in flight), and SIGKILLs one role at seeded random moments
— at least ten times — restarting it after each kill. Then it waits until the outbox settles
and checks, against the agencies' own records:

- nothing lost: every case is delivered (outbox row delivered, case state delivered) and held
  by the agency it was routed to;
- exactly-once effect: each agency holds exactly one case per case reference, no case that was
  not filed, and recorded no ``conflict``;
- sign once: every submission message the agency received for a case carries the MessageId the
  gateway stored for that case (its outbound message), so every retry resent the same bytes.

Raw redeliveries (submission messages beyond one per case) are expected after kills and are
harmless: the agency answers them as duplicates. The figures are printed (``pytest -s``):

    .venv/bin/python -m pytest -s tests/gateway/delivery/test_crash.py

``GBAGW_CRASH_SEED`` overrides the seeds. PostgreSQL, RabbitMQ and Redis must be reachable:
when one is not, the test fails (it never skips).
"""

from __future__ import annotations

import datetime as dt
import os
import random
import socket
import threading
import time
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import create_engine, select

from gateway.devkit.cluster import Cluster, Mode, cluster, synthetic_applications
from gateway.store import transaction
from gateway.store.tables import Case, DeliveryAttempt, Message, Outbox, Receipt
from gateway.store.vocab import CaseState, Direction, OutboxKind

CASES = 500
KILLS = 10
#: filing is paced, CHUNK cases at a time over this many seconds: work keeps arriving while
#: the kills happen, and each chunk gives the worker a short backlog to be killed in
FILING_WINDOW = 36.0
CHUNK = 20
#: a kill waits until the (re)started role has work moving again, then this much at random
KILL_AFTER_WORK = (0.0, 0.4)
#: after the last kill: leases of a killed worker expire (20 s in the cluster), the sweep
#: takes them back, lost publishes come due again (30 s), then the rows are delivered
SETTLE_TIMEOUT = 100.0
SERVICES = {"postgresql": 5432, "rabbitmq": 5672, "redis": 6379}


@dataclass
class Figures:
    mode: str
    victim: str
    seed: int
    kills: int
    filed: int
    delivered: int
    lost: int
    duplicate_cases: int
    conflicts: int
    foreign_ids: int
    raw_redeliveries: int
    in_flight_at_kills: int
    filing_seconds: float
    kill_seconds: float
    settle_seconds: float
    seconds: float

    def line(self) -> str:
        return (
            f"crash {self.mode}/{self.victim} seed={self.seed}: {self.kills} SIGKILLs, "
            f"{self.filed} filed, {self.delivered} delivered, lost={self.lost}, "
            f"duplicate-case={self.duplicate_cases}, conflicts={self.conflicts}, "
            f"other-MessageId={self.foreign_ids}, raw-redelivery={self.raw_redeliveries} "
            f"(rows sending at kill moments: {self.in_flight_at_kills}), "
            f"filing {self.filing_seconds:.1f}s, kills {self.kill_seconds:.1f}s, "
            f"settled {self.settle_seconds:.1f}s after the kills, {self.seconds:.1f}s in all"
        )


def _require(*services: str) -> None:
    for name in services:
        port = SERVICES[name]
        try:
            socket.create_connection(("127.0.0.1", port), 2).close()
        except OSError as exc:
            pytest.fail(f"{name} on 127.0.0.1:{port} is required and unreachable: {exc}")


def _sending(c: Cluster) -> int:
    try:
        return c.outbox_states().get("sending", 0)
    except Exception:  # noqa: BLE001 - a diagnostic only (SQLite busy while a writer died)
        return 0


def _wait_for_work(c: Cluster, *, since: dt.datetime, timeout: float = 15.0) -> None:
    """Wait until a delivery was claimed after ``since``: the restarted role is working."""
    deadline = time.monotonic() + timeout
    query = select(DeliveryAttempt.claimed_at).order_by(DeliveryAttempt.id.desc()).limit(1)
    while time.monotonic() < deadline:
        try:
            with transaction(c.runtime.sessions, read_only=True) as session:
                latest = session.scalar(query)
        except Exception:  # noqa: BLE001 - SQLite busy while its writer was just killed
            latest = None
        if latest is not None and latest > since:
            return
        time.sleep(0.05)


def _sandbox_submissions(c: Cluster, region: str) -> tuple[set[str], list[tuple]]:
    """The agency's cases, and every message it recorded: (case_ref, message_id, kind, outcome)."""
    from adapters.sandbox.store import CaseRow, MessageRow

    engine = create_engine(f"sqlite:///{c.root / f'sandbox-{region.lower()}.db'}")
    try:
        with engine.connect() as connection:
            cases = set(connection.scalars(select(CaseRow.case_ref)))
            messages = [
                tuple(row)
                for row in connection.execute(
                    select(
                        MessageRow.case_ref,
                        MessageRow.message_id,
                        MessageRow.kind,
                        MessageRow.outcome,
                    )
                )
            ]
    finally:
        engine.dispose()
    return cases, messages


def crash(root: Path, mode: Mode, victim: str, seed: int, **kwargs: object) -> Figures:
    """File CASES applications while ``victim`` is SIGKILLed KILLS times; check and count."""
    rng = random.Random(seed)
    applications = synthetic_applications(CASES, tag=f"C{seed:07d}")
    started = time.monotonic()
    with cluster(root, mode, **kwargs) as c:
        c.runtime.sessions  # noqa: B018 - open the store before the filing thread uses it
        refs: list[str] = []
        filing_took: list[float] = []
        failure: list[BaseException] = []

        def file_all() -> None:
            begin = time.monotonic()
            try:
                for i in range(0, CASES, CHUNK):
                    pause = begin + i * FILING_WINDOW / CASES - time.monotonic()
                    if pause > 0:
                        time.sleep(pause)
                    refs.extend(c.file(applications[i : i + CHUNK]))
            except BaseException as exc:  # noqa: BLE001 - reported by the main thread
                failure.append(exc)
            filing_took.append(time.monotonic() - begin)

        filer = threading.Thread(target=file_all, name="filer", daemon=True)
        filer.start()
        in_flight = 0
        kills_began = time.monotonic()
        restarted = dt.datetime.now(dt.UTC)
        for _ in range(KILLS):
            _wait_for_work(c, since=restarted)  # let it start and take work, then kill it
            time.sleep(rng.uniform(*KILL_AFTER_WORK))
            in_flight += _sending(c)
            c.kill(victim)
            time.sleep(rng.uniform(0.0, 0.3))
            restarted = dt.datetime.now(dt.UTC)
            c.start(victim)
        kills_took = time.monotonic() - kills_began
        filer.join(timeout=120)
        assert not filer.is_alive(), "filing did not finish"
        assert not failure, f"filing failed: {failure[0]!r}"
        assert len(set(refs)) == CASES

        killed_until = time.monotonic()
        settled = c.wait_settled(SETTLE_TIMEOUT)
        settle_seconds = time.monotonic() - killed_until
        states = c.outbox_states()
        assert settled, (
            f"not settled after {SETTLE_TIMEOUT:g}s: {states}; {victim} log tail:\n"
            + (c.log(victim)[-3000:])
        )
        elapsed = time.monotonic() - started

        # --- the gateway's view -----------------------------------------------------------
        with transaction(c.runtime.sessions, read_only=True) as session:
            regions = dict(
                session.execute(
                    select(Case.case_ref, Case.region).where(Case.case_ref.in_(refs))
                ).all()
            )
            case_states = Counter(
                session.scalars(select(Case.state).where(Case.case_ref.in_(refs)))
            )
            stored_ids: dict[str, set[str]] = defaultdict(set)
            for case_ref, message_id in session.execute(
                select(Message.case_ref, Message.message_id).where(
                    Message.direction == Direction.OUT,
                    Message.case_ref.in_(refs),
                    Message.kind.in_(["CaseSubmission", "PedidoProcesso"]),
                )
            ):
                stored_ids[case_ref].add(message_id)
            outbox = Counter(
                session.scalars(
                    select(Outbox.state).where(
                        Outbox.case_ref.in_(refs), Outbox.kind == OutboxKind.SUBMISSION
                    )
                )
            )
            receipts = Counter(
                session.scalars(select(Receipt.case_ref).where(Receipt.case_ref.in_(refs)))
            )

        assert set(regions) == set(refs)
        assert all(len(ids) == 1 for ids in stored_ids.values()), "one signed message per case"
        assert set(stored_ids) == set(refs)

        # --- the agencies' view -----------------------------------------------------------
        held: dict[str, set[str]] = {}
        received: list[tuple] = []
        for region in ("HK", "MO"):
            cases, messages = _sandbox_submissions(c, region)
            held[region] = cases
            received += [(region, *m) for m in messages]

        lost = sum(1 for ref in refs if ref not in held[regions[ref]])
        foreign_cases = sum(
            len(cases - {r for r in refs if regions[r] == region}) for region, cases in held.items()
        )
        per_case = Counter(ref for region, ref, *_ in received if ref in regions)
        conflicts = sum(1 for *_, outcome in received if outcome == "conflict")
        other_ids = [
            (region, ref, message_id)
            for region, ref, message_id, _kind, _outcome in received
            if ref not in stored_ids or message_id not in stored_ids[ref]
        ]
        unanswered = [r for r in received if r[4] not in ("new", "duplicate")]
        figures = Figures(
            mode=mode,
            victim=victim,
            seed=seed,
            kills=KILLS,
            filed=len(refs),
            delivered=outbox.get("delivered", 0),
            lost=lost,
            duplicate_cases=foreign_cases + sum(max(0, n - 1) for n in receipts.values()),
            conflicts=conflicts,
            foreign_ids=len(other_ids),
            raw_redeliveries=sum(per_case.values()) - len(per_case),
            in_flight_at_kills=in_flight,
            filing_seconds=filing_took[0],
            kill_seconds=kills_took,
            settle_seconds=settle_seconds,
            seconds=elapsed,
        )
        print("\n" + figures.line(), flush=True)

        assert lost == 0, f"{lost} cases never reached their agency"
        assert figures.delivered == CASES, f"outbox: {outbox}"
        assert case_states == {CaseState.DELIVERED: CASES}, f"case states: {case_states}"
        assert all(len(held[regions[r]] & {r}) == 1 for r in refs)
        assert foreign_cases == 0, f"{foreign_cases} agency cases the gateway never filed"
        assert all(n == 1 for n in receipts.values()) and len(receipts) == CASES, (
            "one receipt stored per case"
        )
        assert conflicts == 0, "an agency saw other content under a case reference"
        assert not other_ids, f"messages with another MessageId than stored: {other_ids[:5]}"
        assert not unanswered, f"messages not answered new/duplicate: {unanswered[:5]}"
        assert set(per_case) == set(refs), "every case's submission reached its agency"
        return figures


def _seed(default: int) -> int:
    return int(os.environ.get("GBAGW_CRASH_SEED", default))


def test_embedded_run_killed(tmp_path: Path) -> None:
    """SQLite + ``gbagw run`` (worker, relay and sweep in one process) SIGKILLed ≥ 10 times."""
    crash(tmp_path, "embedded", "run", _seed(20260101))


@pytest.mark.parametrize("mode", ["rabbitmq", "redis"])
def test_production_worker_killed(tmp_path: Path, mode: Mode) -> None:
    """PostgreSQL + broker; the prefork worker (and its pool children) SIGKILLed ≥ 10 times."""
    _require("postgresql", mode)
    crash(tmp_path, mode, "worker", _seed(20260202), pool="prefork")


@pytest.mark.parametrize("mode", ["rabbitmq", "redis"])
def test_production_relay_killed(tmp_path: Path, mode: Mode) -> None:
    """PostgreSQL + broker; the relay SIGKILLed ≥ 10 times (publishes lost mid-batch)."""
    _require("postgresql", mode)
    crash(tmp_path, mode, "relay", _seed(20260303), pool="prefork")
