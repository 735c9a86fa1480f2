"""Reconciliation on PostgreSQL: what storing and applying costs next to verifying alone,
and whether a poll sweep's cost depends on how many cases are closed.

    .venv/bin/python bench/reconcile.py [--cases 60] [--trials 5] [--pushers 16,64]
                                        [--closed 10000] [--open 100] [--rounds 5]

1. Notices: HK cases are filed (the bundled examples under new numbers) and marked
   delivered; each gets five signed StatusNotices (RECEIVED … COMPLETED) from its agency.
   On one core, in one run, for each way of pushing (below), ``--trials`` times over fresh
   cases (``--cases`` a trial), the trial's notices:

   - *verified only*, just before and just after the other: safe parse, schema, signature
     against the registered certificate, parse — what any receiver must do;
   - *verified + stored + applied*: the path a pushed notice takes: stored raw first
     (committed), verified, checked against the case, applied in sequence order with the
     case row locked, its consequences queued (notifications) in a second committed
     PostgreSQL transaction. Either one push at a time (``Inbound.receive_pushed``, each
     its own two transactions), or by as many callers at once as ``--pushers`` says, as the
     HTTP receiver's route takes concurrent pushes (``receive_pushed_async`` on its event
     loop), so pushes that arrive together are stored and applied together (group commit,
     in one thread). One receiver serves all the trials of a way of pushing, as one process
     serves all pushes.

   Each trial's ratio is its two figures' (measured around the same second: a neighbour's
   load that comes and goes hurts both alike); the line gives the median of the trials and
   their range. The receiver's own verification is timed too (the same work, on the thread
   that does it): the ratio to that, verified only inside the run, is measured second by
   second with the rest and swings least.

   Target: applied ≥ 0.6 × verified-only under load, that is with batches full (as many
   pushes at once as a batch takes, 64, or more): how many notices a second one core can
   take is the receiver's capacity, and a receiver at capacity has pushes waiting for every
   batch. Fewer pushes at once are a load below capacity (16 pushers get fewer notices a
   second through, wall clock, than 64 do): each batch's fixed cost (some ten statements,
   two transactions) is shared by fewer notices, on a core that has time to spare. Those
   lines, and one push at a time (the latency path), are printed for reference, without
   the target (docs/decisions.md).

2. Sweep: ``--open`` open Macao cases due for a poll, next to 100 closed ones, then next to
   ``--closed`` closed ones, in alternating rounds (the extra closed cases are added and
   removed each round); ``poll_due`` asks the real Macao sandbox agency (in-process on
   loopback) about every open case. Target: the two medians within 20 %.

Figures only; the bench asserts nothing. Other load on the machine counts against every
figure: compare the ratios printed by one run.
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import NamedTuple

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # bench/signing.py shadows signing

TARGET_RATIO = 0.6
WARM_CASES = 20  # their notices warm the receiving path before anything is measured
TARGET_SWEEP = 0.20
STATUSES = ["RECEIVED", "ACCEPTED", "IN_PROGRESS", "APPROVED", "COMPLETED"]


def _file_cases(runtime, count: int, region: str) -> list[str]:
    from gateway.cases.filing import Filing
    from gateway.devkit.cluster import synthetic_applications
    from gateway.render.pipeline import Pipeline

    filing = Filing(Pipeline(), runtime.keys.gateway_key(), runtime.sessions)
    refs: list[str] = []
    for application in synthetic_applications(count * 4):
        if len(refs) == count:
            break
        filed = filing.file(application)
        if filed.agency.startswith(region + "-"):
            refs.append(filed.case_ref)
    return refs


def _mark_delivered(runtime, refs: list[str], *, poll_at: dt.datetime | None) -> None:
    from sqlalchemy import update

    from gateway.store import transaction
    from gateway.store.tables import Case, Outbox

    with transaction(runtime.sessions) as session:
        session.execute(
            update(Case)
            .where(Case.case_ref.in_(refs))
            .values(state="delivered", agency_case_ref="AG-1", next_poll_at=poll_at)
        )
        session.execute(update(Outbox).where(Outbox.case_ref.in_(refs)).values(state="delivered"))


def _notices(runtime, refs: list[str]) -> list[bytes]:
    from sqlalchemy import select

    from adapters.hk import FORMAT  # bench code: it plays the agency
    from gateway.domain import MessageHeader, StatusEvent, StatusReport
    from gateway.store import transaction
    from gateway.store.tables import Case
    from signing import sign
    from signing.parties import GATEWAY_PARTY

    with transaction(runtime.sessions, read_only=True) as session:
        rows = session.execute(select(Case.case_ref, Case.agency).where(Case.case_ref.in_(refs)))
        agencies = {ref: agency for ref, agency in rows}
    keys = {code: runtime.keys.agency_key(code) for code in set(agencies.values())}
    now = dt.datetime.now(dt.UTC)
    out = []
    for seq, status in enumerate(STATUSES, start=1):
        for ref in refs:
            report = StatusReport(
                header=MessageHeader(
                    message_id=str(uuid.uuid4()),
                    case_ref=ref,
                    sent_at=now,
                    sender=agencies[ref],
                    recipient=GATEWAY_PARTY,
                ),
                agency_case_ref="AG-1",
                events=[StatusEvent(seq=seq, agency_status=status, changed_at=now)],
            )
            root = sign(FORMAT.render_status(report), keys[agencies[ref]])
            out.append(FORMAT.serialise(root) if hasattr(FORMAT, "serialise") else _bytes(root))
    return out


def _bytes(root) -> bytes:
    from lxml import etree

    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


def _verify_only(runtime, notices: list[bytes]) -> float:
    from adapters.hk import FORMAT
    from signing import parse_untrusted, verify

    start = time.process_time()
    for body in notices:
        FORMAT.validate(parse_untrusted(body))
        verified = verify(body, runtime.trust, FORMAT.header)
        FORMAT.parse_status(verified.element)
    return time.process_time() - start


def _applied(inbound, notices: list[bytes], pushers: int) -> tuple[float, float, int]:
    """Every notice received by ``pushers`` callers at once, as the HTTP receiver takes
    concurrent pushes: each awaits ``receive_pushed_async`` on the event loop (one: each
    notice alone through ``receive_pushed``, its own transactions)."""
    import asyncio

    async def concurrently() -> list:
        queue = iter(notices)

        async def pusher() -> list:
            return [await inbound.receive_pushed_async(body) for body in queue]

        return [
            answer
            for some in await asyncio.gather(*(pusher() for _ in range(pushers)))
            for answer in some
        ]

    cpu, wall = time.process_time(), time.perf_counter()
    if pushers == 1:
        answers = [inbound.receive_pushed(body) for body in notices]
    else:
        answers = asyncio.run(concurrently())
    refused = sum(1 for answer in answers if answer.quarantined)
    return time.process_time() - cpu, time.perf_counter() - wall, refused


class _Trial(NamedTuple):
    alone: float  # notices/s verified only, just before and just after
    inside: float  # notices/s of the receiver's own verification in the applied run
    applied: float  # notices/s verified + stored + applied (CPU of this process)
    wall: float  # the same, wall clock


def _trials(runtime, parts: list[list[bytes]], pushers: int) -> list[_Trial]:
    """For each part: notices/s verified only, then verified + stored + applied (CPU and
    wall), through one receiver for all parts; a refused notice stops the bench.

    The receiver's own verification (``Inbound._verify``: the same safe parse, schema,
    signature and parse) is timed too, on the thread that runs it: verified only measured
    inside the applied run, second by second with the rest, so a neighbour's load cannot
    fall on one side of that ratio only."""
    from gateway.inbound.receive import Inbound

    inbound = Inbound(runtime.sessions, runtime.trust)
    verify, spent = inbound._verify, [0.0]

    def timed(body: bytes):
        start = time.thread_time()
        try:
            return verify(body)
        finally:
            spent[0] += time.thread_time() - start

    inbound._verify = timed  # type: ignore[method-assign]
    figures = []
    for part in parts:
        before = _verify_only(runtime, part)
        spent[0] = 0.0
        cpu, wall, refused = _applied(inbound, part, pushers)
        if refused:
            raise SystemExit(f"{refused} of {len(part)} notices refused: the bench is broken")
        # verified only just before and just after: a drift of the machine's speed during
        # the applied run then falls on both sides of the ratio alike
        alone = 2 * len(part) / (before + _verify_only(runtime, part))
        figures.append(_Trial(alone, len(part) / spent[0], len(part) / cpu, len(part) / wall))
    return figures


def _print_trials(pushers: int, figures: list[_Trial]) -> None:
    from gateway.inbound.group import BATCH_LIMIT

    if pushers >= BATCH_LIMIT:
        target = f"full batches: target ≥ {TARGET_RATIO}"
    elif pushers > 1:
        target = f"batches of at most {pushers}: below capacity, no target"
    else:
        target = "one at a time: the latency path, no target"
    print(f"  {pushers:2d} pusher(s), {target}; ratio to verified only (median of {len(figures)}):")
    for name, ratios in (
        ("alone, before and after", [t.applied / t.alone for t in figures]),
        ("inside the run", [t.applied / t.inside for t in figures]),
    ):
        print(
            f"      {statistics.median(ratios):.2f} to verified only {name}"
            f" ({min(ratios):.2f}–{max(ratios):.2f})"
        )
    for t in figures:
        print(
            f"      verified only {t.alone:5.0f} notices/s alone, {t.inside:5.0f} inside the run;"
            f" verified + stored + applied {t.applied:5.0f}/s ({t.wall:.0f}/s wall)"
        )


def _add_closed(runtime, template_ref: str, count: int) -> list[str]:
    from sqlalchemy import insert, select

    from gateway.store import transaction
    from gateway.store.tables import Case

    with transaction(runtime.sessions) as session:
        template = session.execute(select(Case).where(Case.case_ref == template_ref)).scalar_one()
        values = {c.key: getattr(template, c.key) for c in Case.__table__.columns}
        rows = []
        for _ in range(count):
            suffix = uuid.uuid4().hex[:20].upper()
            rows.append(
                {
                    **values,
                    "case_ref": f"GBA-{suffix}",
                    "application_no": f"CLOSED-{suffix}",
                    "state": "COMPLETED",
                    "next_poll_at": None,
                }
            )
        if rows:  # --closed 100 or fewer: nothing to add
            session.execute(insert(Case), rows)
    return [row["case_ref"] for row in rows]


def _remove_closed(runtime, refs: list[str]) -> None:
    from sqlalchemy import delete

    from gateway.store import transaction
    from gateway.store.tables import Case

    with transaction(runtime.sessions) as session:
        for start in range(0, len(refs), 1000):
            session.execute(delete(Case).where(Case.case_ref.in_(refs[start : start + 1000])))


def _sweep(runtime, refs: list[str], rounds: int = 1) -> float:
    """Median seconds of ``rounds`` poll sweeps, each asking every one of ``refs`` once."""
    from sqlalchemy import update

    from gateway.reconcile.poll import poll_due
    from gateway.store import transaction
    from gateway.store.tables import Case

    times = []
    for _ in range(rounds):
        past = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1)
        with transaction(runtime.sessions) as session:
            session.execute(update(Case).where(Case.case_ref.in_(refs)).values(next_poll_at=past))
        start = time.perf_counter()
        asked = 0
        while asked < len(refs):
            done = poll_due(runtime, batch=len(refs))
            if done == 0:
                break
            asked += done
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", type=int, default=60, help="cases a trial (5 notices each)")
    parser.add_argument(
        "--trials", type=int, default=5, help="trials for each number of pushers at once"
    )
    parser.add_argument("--closed", type=int, default=10_000)
    parser.add_argument("--open", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=5, help="sweep rounds per side")
    parser.add_argument(
        "--pushers",
        type=lambda text: [int(n) for n in text.split(",")],
        default=[16, 64],
        help="pushes at once (the HTTP receiver's), comma-separated: one run each",
    )
    args = parser.parse_args()
    # the bench's open cases were never sent to the Macao sandbox: each sweep logs that the
    # agency does not know them, which is expected here and would bury the figures
    logging.getLogger("gateway.reconcile.poll").setLevel(logging.ERROR)

    from gateway import heap
    from gateway.agencies.directory import AgencyDirectory
    from gateway.config import Settings
    from gateway.delivery.runtime import Runtime
    from gateway.registry import sandbox_factory
    from gateway.serve import serving
    from gateway.store import upgrade
    from gateway.store.testing import throwaway_postgres
    from signing import KeyDirectory

    with tempfile.TemporaryDirectory() as tmp, throwaway_postgres("bench") as url:
        root = Path(tmp)
        keys = KeyDirectory(root / "keys")
        keys.init()
        upgrade(url)
        sandbox = sandbox_factory("MO")(
            {"region": "MO", "keys_dir": str(keys.path), "database": str(root / "mo.db")}
        )
        with serving(sandbox) as mo_url:
            bundled = AgencyDirectory.load(None)
            directory = AgencyDirectory.from_document(
                {
                    "agencies": {
                        a.code: {"format": a.format, "url": mo_url if a.format == "MO" else a.url}
                        for a in bundled
                    }
                },
                "bench",
            )
            runtime = Runtime(Settings(keys=keys.path, database_url=url), directory)

            counts = [1, *args.pushers]
            trials = [1 if pushers == 1 else args.trials for pushers in counts]
            total = args.cases * sum(trials)
            print(f"filing {total} HK cases and signing {5 * total} notices …")
            refs = _file_cases(runtime, total + WARM_CASES, "HK")
            _mark_delivered(runtime, refs, poll_at=None)
            refs, warm = refs[WARM_CASES:], refs[:WARM_CASES]
            parts = [
                _notices(runtime, refs[i * args.cases : (i + 1) * args.cases])
                for i in range(sum(trials))
            ]
            _verify_only(runtime, parts[0][:20])  # warm caches
            # and the receiving path's: connections, prepared statements, the batch thread
            _trials(runtime, [_notices(runtime, warm)], max(args.pushers))
            heap.settle()  # as `gbagw api` does once started
            for pushers, n in zip(counts, trials, strict=True):
                _print_trials(pushers, _trials(runtime, parts[:n], pushers))
                parts = parts[n:]
            print("  (CPU of this process; PostgreSQL's own CPU is not counted)")

            print(f"sweep: {args.open} open MO cases …")
            open_refs = _file_cases(runtime, args.open, "MO")
            _mark_delivered(runtime, open_refs, poll_at=None)
            _add_closed(runtime, open_refs[0], 100)
            _sweep(runtime, open_refs)  # warm: WSDL, connections
            # rounds alternate few and many closed cases, so drift and a noisy neighbour
            # hurt both sides alike; each side is the median of its rounds
            smalls, larges = [], []
            for _ in range(args.rounds):
                smalls.append(_sweep(runtime, open_refs))
                extra = _add_closed(runtime, open_refs[0], args.closed - 100)
                larges.append(_sweep(runtime, open_refs))
                _remove_closed(runtime, extra)
            small, large = statistics.median(smalls), statistics.median(larges)
            print(f"  100 closed + {args.open} open:    {small * 1000:7.0f} ms")
            print(f"  {args.closed} closed + {args.open} open: {large * 1000:7.0f} ms")
            print(
                f"  difference: {(large - small) / small * 100:+.0f} %"
                f"   (target within ±{TARGET_SWEEP * 100:.0f} %)"
            )
            runtime.close()


if __name__ == "__main__":
    main()
