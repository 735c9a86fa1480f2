"""Poll Macao and pull HK for open cases: one batch per run (Celery beat, ``gateway.poll``).

A run claims the due cases in one short transaction — ``WHERE next_poll_at <= now ORDER BY
next_poll_at LIMIT batch`` on ``ix_cases_next_poll_at`` (closed cases have no
``next_poll_at``, so they cost nothing; a closed case still missing events keeps one for a few
asks, :func:`gateway.reconcile.schedule.after_closing`), rows locked ``SKIP LOCKED`` so
overlapping runs never ask about one case twice — and reschedules each claimed case *before*
asking, as if the ask would fail: a crash, a timeout or an unbelievable answer leaves the case
due again later, and one bad case never blocks the batch. A good answer reschedules it again
through :func:`gateway.reconcile.schedule.after_contact` (or clears the schedule when
terminal and nothing is missing).

Per agency: at most ``limit`` calls per run (its other due cases are deferred to the next
run, so one agency's backlog never starves another's), at least ``spacing`` seconds between
two call starts, and nothing for an agency whose circuit breaker is open (one call while it
is being probed). Agencies are asked in parallel, each by its own thread; the calls run
outside any transaction. What an agency answers goes to :class:`gateway.inbound.receive.Inbound`
(stored raw, applied; ``via`` is ``pull`` for a region that pushes, ``poll`` otherwise); an
answer the transport could not believe is quarantined; a case the agency does not know is a
case event.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session, sessionmaker

from gateway.outbox import breaker
from gateway.ports import AgencyCallFailed, AgencyClient, Outcome
from gateway.reconcile.apply import TERMINAL
from gateway.reconcile.schedule import PollPolicy, after_closing, after_failure, is_open, pushes
from gateway.store import transaction
from gateway.store.events import append_event
from gateway.store.tables import AgencyEvent, Case, CaseEvent

if TYPE_CHECKING:
    from gateway.delivery.runtime import Runtime
    from gateway.inbound.receive import Inbound

log = logging.getLogger(__name__)

#: the case event recorded when the agency answers that it does not know the case
UNKNOWN_AT_AGENCY = "unknown-at-agency"
#: threads asking agencies at once in one run
MAX_PARALLEL_AGENCIES = 8


@dataclass(frozen=True)
class Due:
    """A claimed case: whom to ask, how, and from which sequence on."""

    case_ref: str
    agency: str
    region: str
    #: ``DesdeSequencia``: the last applied sequence, or the end of the gap-free prefix
    #: when a sequence is missing (so the poll fills the gap); None before any status
    since_seq: int | None

    @property
    def via(self) -> str:
        return "pull" if pushes(self.region) else "poll"


@dataclass(frozen=True)
class Asked:
    """What became of one ask (for tests and logs)."""

    case_ref: str
    agency: str
    outcome: str  # applied, quarantined, unknown, retryable, permanent, error


def poll_due(
    runtime: Runtime,
    *,
    batch: int | None = None,
    now: dt.datetime | None = None,
    policy: PollPolicy | None = None,
    limit: int | None = None,
    spacing: float | None = None,
    on_asked: Callable[[Asked], None] | None = None,
) -> int:
    """Ask the agencies about one batch of cases whose ``next_poll_at`` is due; apply
    what they answer; return how many cases were asked.

    ``batch``, ``limit`` (calls per agency) and ``spacing`` (seconds between two calls to one
    agency) default to the runtime's settings; ``now`` fixes the clock (tests); ``on_asked``
    hears every outcome.
    """
    config = runtime.settings
    policy = policy or PollPolicy.from_settings(config)
    batch = batch if batch is not None else config.poll_batch
    limit = limit if limit is not None else config.poll_agency_limit
    spacing = spacing if spacing is not None else config.poll_agency_spacing
    clock: Callable[[], dt.datetime] = (
        (lambda: now) if now is not None else (lambda: dt.datetime.now(dt.UTC))
    )
    start = clock()
    defer = dt.timedelta(seconds=config.poll_interval)
    claimed = claim(
        runtime.sessions, now=start, batch=batch, limit=limit, policy=policy, defer=defer
    )
    if not claimed:
        return 0
    from gateway.inbound.receive import Inbound  # the inbound path imports reconcile

    inbound = Inbound(runtime.sessions, runtime.trust)
    groups: dict[str, list[Due]] = defaultdict(list)
    for due in claimed:
        groups[due.agency].append(due)
    heard = _Heard(on_asked)

    def ask(agency: str) -> None:
        _ask_agency(runtime, inbound, agency, groups[agency], clock, spacing, heard)

    if len(groups) == 1:
        ask(next(iter(groups)))
    else:
        workers = min(len(groups), MAX_PARALLEL_AGENCIES)
        with ThreadPoolExecutor(workers, thread_name_prefix="gbagw-poll") as pool:
            for future in [pool.submit(ask, agency) for agency in groups]:
                future.result()
    log.info("poll run: %d cases asked (%s)", len(claimed), dict(heard.counts))
    return len(claimed)


def due_query(now: dt.datetime, *, batch: int, blocked: set[str]) -> Select[Case]:
    """The sweep's one read: due cases, most overdue first, through ``ix_cases_next_poll_at``
    (closed cases have no ``next_poll_at``, but for a few asks while events are missing: they
    are not in the range read)."""
    query = (
        select(Case)
        .where(Case.next_poll_at <= now)
        .order_by(Case.next_poll_at, Case.case_ref)  # ties (deferred together) in one order
        .limit(batch)
        .with_for_update(skip_locked=True)
    )
    if blocked:
        query = query.where(Case.agency.not_in(sorted(blocked)))
    return query


def claim(
    sessions: sessionmaker[Session],
    *,
    now: dt.datetime,
    batch: int,
    limit: int,
    policy: PollPolicy,
    defer: dt.timedelta,
) -> list[Due]:
    """Claim up to ``batch`` due cases — open ones, and closed ones still to be asked for
    missing events — at most ``limit`` per agency (one for an agency being probed, none for
    one paused by its breaker), rescheduling each as if its ask will fail; due cases over an
    agency's limit are deferred by ``defer``."""
    with transaction(sessions) as session:
        blocked, probing = breaker.paused(session, now)
        rows = list(session.scalars(due_query(now, batch=batch, blocked=blocked)))
        taken: list[Case] = []
        per_agency: Counter[str] = Counter()
        for case in rows:
            closed = not is_open(case.state)
            # not delivered, or closed with nothing (more) to ask for: off the schedule
            if closed and (
                case.state not in TERMINAL
                or after_closing(session, case, now=now, policy=policy) is None
            ):
                case.next_poll_at = None
                continue
            cap = 1 if case.agency in probing else limit
            if per_agency[case.agency] >= cap:
                case.next_poll_at = now + defer
                continue
            per_agency[case.agency] += 1
            case.next_poll_at = (
                after_closing(session, case, now=now, policy=policy, asking=True)
                if closed
                else after_failure(case, now=now, policy=policy)
            )
            taken.append(case)
        since = _since(session, taken)
        return [Due(c.case_ref, c.agency, c.region, since[c.case_ref]) for c in taken]


def _since(session: Session, cases: Sequence[Case]) -> dict[str, int | None]:
    """``DesdeSequencia`` per case: ``last_seq``, or the end of the gap-free prefix when a
    sequence below it is missing (one grouped count for the batch, a look only at gaps)."""
    since: dict[str, int | None] = {c.case_ref: (c.last_seq or None) for c in cases}
    with_events = [c for c in cases if c.last_seq]
    if not with_events:
        return since
    counts = dict(
        session.execute(
            select(AgencyEvent.case_ref, func.count())
            .where(AgencyEvent.case_ref.in_([c.case_ref for c in with_events]))
            .group_by(AgencyEvent.case_ref)
        ).all()
    )
    for case in with_events:
        if counts.get(case.case_ref, 0) >= case.last_seq:
            continue
        seqs = session.scalars(
            select(AgencyEvent.seq)
            .where(AgencyEvent.case_ref == case.case_ref)
            .order_by(AgencyEvent.seq)
        )
        prefix = 0
        for seq in seqs:
            if seq != prefix + 1:
                break
            prefix = seq
        since[case.case_ref] = prefix or None
    return since


class _Heard:
    def __init__(self, listener: Callable[[Asked], None] | None):
        self.listener = listener
        self.counts: Counter[str] = Counter()
        self._lock = threading.Lock()

    def __call__(self, asked: Asked) -> None:
        with self._lock:
            self.counts[asked.outcome] += 1
            if self.listener is not None:
                self.listener(asked)


def _ask_agency(
    runtime: Runtime,
    inbound: Inbound,
    agency: str,
    cases: Sequence[Due],
    clock: Callable[[], dt.datetime],
    spacing: float,
    heard: Callable[[Asked], None],
) -> None:
    try:
        client = runtime.client(agency)
    except Exception:  # not in the directory, no client for its format: the cases wait
        log.exception("poll: no client for agency %s; %d cases wait", agency, len(cases))
        for due in cases:
            heard(Asked(due.case_ref, agency, "error"))
        return
    last: float | None = None
    for due in cases:
        if last is not None and spacing > 0:
            time.sleep(max(0.0, spacing - (time.monotonic() - last)))
        last = time.monotonic()
        try:
            outcome = _ask(runtime, inbound, client, due, clock)
        except Exception:  # one bad case never blocks the batch; it is rescheduled already
            log.exception("poll: asking %s about %s failed", agency, due.case_ref)
            outcome = "error"
        heard(Asked(due.case_ref, agency, outcome))


def _ask(
    runtime: Runtime,
    inbound: Inbound,
    client: AgencyClient,
    due: Due,
    clock: Callable[[], dt.datetime],
) -> str:
    try:
        polled = client.poll(due.case_ref, since_seq=due.since_seq)
    except AgencyCallFailed as exc:
        result = exc.result
        if result.outcome is Outcome.PERMANENT and result.document is not None:
            inbound.quarantine_fetched(
                result.document,
                via=due.via,
                agency=due.agency,
                case_ref=due.case_ref,
                reason=f"{due.via} answer not believed: {result.detail}",
                now=clock(),
            )
            log.warning("poll: %s answer for %s quarantined", due.agency, due.case_ref)
            return "quarantined"
        log.info(
            "poll: %s about %s: %s %s", due.agency, due.case_ref, result.outcome, result.detail
        )
        return "retryable" if result.outcome is Outcome.RETRYABLE else "permanent"
    if polled is None:
        _unknown_at_agency(runtime, due, clock())
        return "unknown"
    received = inbound.record_fetched(
        polled.report, polled.document, via=due.via, agency=due.agency, now=clock()
    )
    return "applied" if received.quarantined is None else "quarantined"


def _unknown_at_agency(runtime: Runtime, due: Due, now: dt.datetime) -> None:
    """The agency does not know the case: a case event (once in a row, not once per ask)."""
    with transaction(runtime.sessions) as session:
        latest = session.scalar(
            select(CaseEvent.event)
            .where(CaseEvent.case_ref == due.case_ref)
            .order_by(CaseEvent.seq.desc())
            .limit(1)
        )
        if latest == UNKNOWN_AT_AGENCY:
            return
        append_event(
            session,
            due.case_ref,
            event=UNKNOWN_AT_AGENCY,
            source="agency",
            now=now,
            detail=f"{due.via}: {due.agency} does not know the case",
        )
    log.warning("poll: %s does not know case %s", due.agency, due.case_ref)
