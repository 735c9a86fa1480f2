"""Apply verified status reports to their cases: the one path for push, pull and poll.

Checks first (the case exists, the signer is the agency the case was routed to, the report is
addressed to the gateway, every status code is known to the case's mapping), then in the
caller's transaction: :func:`~gateway.reconcile.apply.apply_to`, the lifecycle consequences with
the newly stored events (none for a case that was closed already), and a pull at once when the
sequence has a gap (also for a closed case, while asking can fill it: schedule.after_closing).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, defer

from gateway.cases import lifecycle
from gateway.domain import StatusReport
from gateway.reconcile import schedule
from gateway.reconcile.apply import TERMINAL, Applied, Event, apply_to, recorded
from gateway.store.among import among, dialect_of
from gateway.store.tables import Case
from gateway.store.writes import Writes
from gateway.supplements.mapping import case_mapping
from signing.parties import GATEWAY_PARTY

#: quarantine classes, as the CBCE Fault codes name them
SCHEMA, SIGNATURE, UNKNOWN_CASE, UNAUTHORISED = (
    "SCHEMA",
    "SIGNATURE",
    "UNKNOWN_CASE",
    "UNAUTHORISED",
)


#: the highest agency sequence number the store keeps (its INTEGER columns: PostgreSQL int4);
#: the CBCE and SIP schemas bound none, so a larger one is refused, not a failed write retried
MAX_SEQ = 2**31 - 1


class Refused(Exception):
    """The report must not be applied: ``code`` (a quarantine class) and a clear reason."""

    def __init__(self, code: str, reason: str):
        super().__init__(f"{code}: {reason}")
        self.code, self.reason = code, reason


def events_of(report: StatusReport) -> list[Event]:
    return [
        Event(
            seq=e.seq,
            agency_status=e.agency_status,
            changed_at=e.changed_at,
            remarks=e.remarks,
            details=e.model_dump(
                mode="json", include={"required_documents", "result"}, exclude_none=True
            ),
        )
        for e in report.events
    ]


def check(case: Case | None, report: StatusReport, *, agency: str) -> Callable[[str], str]:
    """Refuse a report that must not be applied to ``case`` (None: not found); return the
    case's agency-code → canonical status function otherwise."""
    case_ref = report.header.case_ref
    if case is None:
        raise Refused(UNKNOWN_CASE, f"no case {case_ref}")
    if agency != case.agency:
        raise Refused(
            UNAUTHORISED, f"signed by {agency}, but case {case_ref} was sent to {case.agency}"
        )
    if report.header.recipient != GATEWAY_PARTY:
        raise Refused(UNAUTHORISED, f"addressed to {report.header.recipient}, not the gateway")
    too_large = sorted(e.seq for e in report.events if e.seq > MAX_SEQ)
    if too_large:
        raise Refused(SCHEMA, f"sequence number {too_large[0]} is above {MAX_SEQ}")
    mapping = case_mapping(case.item_code, case.item_version, case.region, case.mapping_id)
    if mapping is None:
        raise Refused(SCHEMA, f"the mapping {case.mapping_id} of case {case_ref} is not installed")
    unknown = sorted({e.agency_status for e in report.events} - set(mapping.statuses))
    if unknown:
        raise Refused(SCHEMA, f"status code {', '.join(unknown)} unknown to {mapping.mapping}")
    return lambda code: str(mapping.status(code))


@dataclass(frozen=True)
class Report:
    """A verified status report to apply: signed by ``agency``, come by ``source``."""

    report: StatusReport
    agency: str
    source: str
    now: dt.datetime
    message_pk: int | None = None


@lru_cache(maxsize=4)
def _locked_cases(dialect: str) -> Any:
    """A batch's cases (``refs``), locked in key order, without their sealed texts."""
    return (
        select(Case)
        .where(among(dialect, Case.case_ref, "refs"))
        .order_by(Case.case_ref)
        .options(defer(Case.application), defer(Case.texts))
        .with_for_update()
    )


def apply_reports(
    session: Session, reports: Sequence[Report], *, writes: Writes | None = None
) -> list[Applied | Refused]:
    """Check each of ``reports`` and apply it, in order, in the caller's transaction: an
    :class:`Applied`, or the :class:`Refused` that kept it from being written. A few
    statements for the whole batch: the cases are locked together (in key order, so two
    batches cannot deadlock), their events read at once, the new rows written at the end
    (:class:`~gateway.store.writes.Writes`) — or left in the caller's ``writes``, for it to
    add its own and flush them all together."""
    refs = sorted({r.report.header.case_ref for r in reports})
    alone = not session.identity_map and not session.new  # nothing else loaded or pending
    cases = {
        case.case_ref: case
        for case in session.scalars(_locked_cases(dialect_of(session)), {"refs": refs})
    }
    # their changes go in one UPDATE (Writes), not the ORM's; expunge_all when they are all
    # the session holds (expunge walks each object's cascades: ~8 µs a case)
    if alone:
        session.expunge_all()
    else:
        for case in cases.values():
            session.expunge(case)
    known = recorded(session, cases)
    flush = writes is None
    if writes is None:
        writes = Writes(session, cases.values())
    else:
        writes.track(cases.values())
    outcomes: list[Applied | Refused] = []
    for item in reports:
        report, case_ref = item.report, item.report.header.case_ref
        case = cases.get(case_ref)
        try:
            canonical = check(case, report, agency=item.agency)
        except Refused as exc:
            outcomes.append(exc)
            continue
        assert case is not None
        applied, new_events = apply_to(
            case,
            known[case_ref],
            events_of(report),
            source=item.source,
            canonical=canonical,
            now=item.now,
            message_pk=item.message_pk,
            writes=writes,
        )
        if case.agency_case_ref is None and report.agency_case_ref:
            case.agency_case_ref = report.agency_case_ref
        # events filled in below the terminal one of a closed case are history: they open no
        # supplement request (nor anything else) for a case the agency has already closed
        lifecycle.status_applied(
            session,
            case,
            new_events=new_events if applied.state_before not in TERMINAL else [],
            held=known[case_ref].keys(),
            state_before=applied.state_before,
            state_after=applied.state_after,
            now=item.now,
            writes=writes,
        )
        if applied.gaps:
            schedule.pull_soon(session, case_ref, now=item.now, case=case)
        outcomes.append(applied)
    if flush:
        writes.flush()
    return outcomes
