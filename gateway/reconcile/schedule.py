"""When to ask an agency about a case next: ``cases.next_poll_at``.

Open cases have one. A case gets it when its submission is delivered, keeps it while the
agency reports open states, and loses it (NULL) with a terminal state, so a poll sweep —
``WHERE next_poll_at <= now ORDER BY next_poll_at LIMIT batch`` on ``ix_cases_next_poll_at``
— costs the same whatever the number of closed cases. The one exception is bounded: a case
closed with a gap in its sequence keeps a schedule for at most ``gap_asks`` more asks for the
missing events, where asking can bring them (:func:`after_closing`, :mod:`.gaps`).

Intervals grow with the case's age (since it was filed; delivery follows within seconds): the
policy's ``base`` for the first hour, then doubling per day of age, capped. An agency of a
region that pushes its status (a region with a push receiver installed, HK) is only pulled once
silent for ``pull_after`` since the last contact; one that cannot push (Macao) is polled at the
interval. A gap in the agency's sequence asks at once (:func:`pull_soon`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection
from dataclasses import dataclass

from sqlalchemy.orm import Session

from gateway.config import Settings, settings
from gateway.reconcile import gaps
from gateway.reconcile.apply import TERMINAL
from gateway.registry import installed_receivers
from gateway.store.tables import Case
from gateway.store.vocab import CaseState


@dataclass(frozen=True)
class PollPolicy:
    """How often to ask: seconds; every field has a production default."""

    #: the interval while the case is young (``young`` seconds old)
    base: float = 30.0
    young: float = 3600.0
    #: after ``young``, the interval doubles per ``period`` of age …
    period: float = 86400.0
    #: … but never exceeds ``cap``
    cap: float = 6 * 3600.0
    #: an agency that pushes is pulled only after this long without contact
    pull_after: float = 3600.0
    #: a case closed with a gap in its sequence is asked at most this often for the rest
    gap_asks: int = 5

    @classmethod
    def from_settings(cls, config: Settings) -> PollPolicy:
        return cls(
            base=config.poll_base_seconds,
            cap=max(config.poll_max_seconds, config.poll_base_seconds),
            pull_after=config.pull_after_seconds,
        )

    def interval(self, age: dt.timedelta) -> dt.timedelta:
        """Seconds between two polls of a case ``age`` old."""
        seconds = max(age.total_seconds(), 0.0)
        if seconds < self.young:
            return dt.timedelta(seconds=min(self.base, self.cap))
        doublings = 1 + int((seconds - self.young) // self.period)
        value = self.base * 2 ** min(doublings, 62)
        return dt.timedelta(seconds=min(value, self.cap))

    def retry(self, silent: dt.timedelta) -> dt.timedelta:
        """After a failed ask: half the silence so far (so repeated failures back off
        geometrically), at least ``base``, at most ``cap``."""
        seconds = max(silent.total_seconds() / 2, self.base)
        return dt.timedelta(seconds=min(seconds, max(self.cap, self.base)))

    def gap_retry(self, asked: int) -> dt.timedelta:
        """The wait before asking a closed case again for missing events, after ``asked``
        asks: ``base`` quadrupling per ask (30 s, 2 min, 8 min … by default), at most
        ``cap`` — an agency that resends at all does so within hours, not days."""
        return dt.timedelta(seconds=min(self.base * 4 ** min(asked, 31), max(self.cap, self.base)))


def current_policy() -> PollPolicy:
    """The process's policy, from :func:`gateway.config.settings`."""
    return PollPolicy.from_settings(settings())


def pushes(region: str) -> bool:
    """Does the region's format push status (a receiver is installed for it)?"""
    return region in installed_receivers()


def asking_fills_gaps(region: str) -> bool:
    """Can asking the agency again bring a missing event? Not where the region pushes: its
    pull (CBCE) returns the latest notice only, so only a push can fill a gap. Where it cannot
    push (SIP), ``DesdeSequencia`` = the sequence before the gap has every later event resent."""
    return not pushes(region)


def is_open(state: str) -> bool:
    """Delivered and not terminal: a case to ask about."""
    return state not in TERMINAL and state not in (CaseState.FILED, CaseState.UNDELIVERABLE)


def next_ask(case: Case, *, now: dt.datetime, policy: PollPolicy) -> dt.datetime:
    """When to ask next about an open ``case`` after a contact at ``now``."""
    interval = policy.interval(now - _aware(case.created_at))
    if pushes(case.region):
        interval = max(interval, dt.timedelta(seconds=policy.pull_after))
    return now + interval


def after_delivery(
    session: Session, case_ref: str, *, now: dt.datetime, policy: PollPolicy | None = None
) -> None:
    """The submission was delivered: the case is open at the agency; schedule its first ask.

    The receipt is a contact. A case the agency already closed (a status arrived before the
    receipt was recorded) keeps no schedule.
    """
    case = session.get(Case, case_ref)
    if case is None:
        return
    case.last_contact_at = now
    if case.state in TERMINAL:
        case.next_poll_at = after_closing(session, case, now=now, policy=_policy(policy))
    else:
        case.next_poll_at = next_ask(case, now=now, policy=_policy(policy))


def after_contact(
    session: Session,
    case_ref: str,
    *,
    state: str,
    now: dt.datetime,
    policy: PollPolicy | None = None,
    held: Collection[int] | None = None,
    case: Case | None = None,
) -> None:
    """The agency told us something about the case: note the contact and reschedule (a
    terminal state clears the schedule, so closed cases cost a sweep nothing — unless events
    are missing: :func:`after_closing`). ``held``: the case's sequences, and ``case`` its
    loaded row, when the caller has them."""
    case = case if case is not None else session.get(Case, case_ref)
    if case is None:
        return
    case.last_contact_at = now
    if state in TERMINAL:
        case.next_poll_at = after_closing(session, case, now=now, policy=_policy(policy), held=held)
    else:
        case.next_poll_at = next_ask(case, now=now, policy=_policy(policy))


def pull_soon(
    session: Session, case_ref: str, *, now: dt.datetime, case: Case | None = None
) -> None:
    """A gap in the agency's sequence was seen: ask the agency about the case at once —
    unless the case has left the schedule (closed, and asking cannot bring what is missing).
    ``case``: its loaded row, when the caller has it."""
    case = case if case is not None else session.get(Case, case_ref)
    if case is None or case.next_poll_at is None:
        return
    case.next_poll_at = now


def after_closing(
    session: Session,
    case: Case,
    *,
    now: dt.datetime,
    policy: PollPolicy,
    asking: bool = False,
    held: Collection[int] | None = None,
) -> dt.datetime | None:
    """When to ask about the closed ``case`` again: only while events below its last one are
    missing and asking can bring them, at most ``policy.gap_asks`` times, backed off; else
    None, and a gap still open is recorded as given up (once), so it stays visible.

    ``asking``: the sweep asks now; the ask is recorded and the time returned is the one after
    it, as if it fails (the answer reschedules through :func:`after_contact`)."""
    missing = gaps.missing(session, case, held)
    if not missing:
        return None
    asked = gaps.asks(session, case.case_ref)
    if not asking_fills_gaps(case.region):
        why = f"a pull from {case.agency} returns its latest notice only"
    elif asked >= policy.gap_asks:
        why = f"{case.agency} was asked {asked} times after the case closed"
    else:
        if asking:
            asked += 1
            gaps.record_ask(session, case, missing, ask=asked, of=policy.gap_asks, now=now)
        return now + policy.gap_retry(asked)
    gaps.give_up(session, case, missing, why=why, now=now)
    return None


def after_failure(case: Case, *, now: dt.datetime, policy: PollPolicy) -> dt.datetime | None:
    """When to ask again after an ask that failed (or was not believed): backed off by the
    silence since the last contact; None for a case no longer open."""
    if case.state in TERMINAL:
        return None
    since = _aware(case.last_contact_at or case.created_at)
    return now + max(policy.retry(now - since), policy.interval(now - _aware(case.created_at)))


def _policy(policy: PollPolicy | None) -> PollPolicy:
    return policy if policy is not None else current_policy()


def _aware(value: dt.datetime) -> dt.datetime:
    """SQLite hands back naive datetimes; the store writes UTC."""
    return value if value.tzinfo is not None else value.replace(tzinfo=dt.UTC)
