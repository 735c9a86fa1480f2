"""Acceptance 3: an agency outage is isolated. While the HK agency is down and then answers
"unavailable" (``faults.unavailable_seconds``), HK deliveries back off (their breakers open)
and then all arrive once; Macao deliveries filed at the same moment are not held back by the
HK backlog. Latency is filing (case ``created_at``) to receipt (``recorded_at``)."""

from __future__ import annotations

import datetime as dt
import statistics
import time

from gateway.devkit.cluster import synthetic_applications

OUTAGE = 8.0  # seconds the HK agency answers "unavailable" after its restart
PER_REGION = 30


def _by_region(count: int, region: str) -> list[dict]:
    apps = [a for a in synthetic_applications(count * 2 + 10) if a["targetRegion"] == region]
    assert len(apps) >= count
    return apps[:count]


def _p95(values: list[float]) -> float:
    return statistics.quantiles(values, n=20, method="inclusive")[18]


def test_hk_outage_backs_off_and_recovers_without_delaying_macao(mode, deployments, harness):
    c = deployments(mode)
    c.start_sandbox("HK")
    c.start_sandbox("MO")
    c.start()
    # warm up: every role is serving and each region's client is built before the clock runs
    warm = c.file([*_by_region(1, "HK"), *_by_region(1, "MO")])
    harness.settle(c, 90, "the warm-up cases")
    harness.assert_delivered_once(c, warm)

    # HK goes down: every HK case is filed before its agency starts its unavailable window,
    # so each one must wait at least OUTAGE seconds, while Macao keeps answering
    c.kill("sandbox-HK")
    hk_apps, mo_apps = _by_region(PER_REGION, "HK"), _by_region(PER_REGION, "MO")
    interleaved = [app for pair in zip(hk_apps, mo_apps, strict=True) for app in pair]
    filing_started = time.monotonic()
    refs = c.file(interleaved)
    filing_took = time.monotonic() - filing_started
    hk_refs, mo_refs = refs[0::2], refs[1::2]
    outage_from = dt.datetime.now(dt.UTC)  # the window starts after this, when HK serves
    c.start_sandbox("HK", faults={"unavailable_seconds": OUTAGE})

    # watch the HK breakers while the backlog drains
    seen: dict[str, set[str]] = {}
    deadline = time.monotonic() + 120
    while c.pending() and time.monotonic() < deadline:
        for agency, state in harness.breakers(c).items():
            seen.setdefault(agency, set()).add(state)
        time.sleep(0.1)
    harness.settle(c, 5, f"{PER_REGION} HK + {PER_REGION} MO cases after an {OUTAGE:g}s outage")

    harness.assert_delivered_once(c, refs)
    hk_latency = harness.latencies(c, hk_refs)
    mo_latency = harness.latencies(c, mo_refs)
    hk_min, hk_max = min(hk_latency.values()), max(hk_latency.values())
    mo_p95 = _p95(list(mo_latency.values()))
    print(
        f"\n{mode}: HK unavailable {OUTAGE:g}s after its restart; filing {len(refs)} took "
        f"{filing_took:.1f}s; MO p95 {mo_p95:.2f}s (max {max(mo_latency.values()):.2f}s); "
        f"HK min {hk_min:.2f}s max {hk_max:.2f}s; breakers seen {seen}"
    )

    detail = f"MO p95 {mo_p95:.2f}s, HK min {hk_min:.2f}s max {hk_max:.2f}s, breakers {seen}"
    # HK waited the outage out: nothing was believed delivered while the agency was down
    hk_rows = [r for r in harness.rows(c) if r.case_ref in set(hk_refs)]
    assert len(hk_rows) == PER_REGION
    outage_until = outage_from + dt.timedelta(seconds=OUTAGE)
    early = [r.case_ref for r in hk_rows if r.updated_at < outage_until]
    assert not early, harness.explain(c, f"HK cases delivered during the outage: {early}")
    assert hk_min >= OUTAGE, harness.explain(c, f"HK did not wait the outage: {detail}")
    # isolation, with large margins: Macao was not held behind the HK backlog — its p95 is
    # under half of what the luckiest HK case waited, and under the outage itself
    assert mo_p95 < hk_min / 2 and mo_p95 < OUTAGE, harness.explain(
        c, f"MO deliveries were delayed by the HK outage: {detail}"
    )

    # HK backed off: failed attempts were recorded and retried later
    histories = [
        d for r in hk_refs for d in harness.detail(c, r).deliveries if d.kind == "submission"
    ]
    retried = [d for d in histories if d.attempts > 1]
    assert retried, harness.explain(c, "no HK delivery was retried during the outage")
    outcomes = [a.outcome for d in histories for a in d.history]
    assert outcomes.count("retryable") >= 1 and outcomes.count("delivered") == PER_REGION
    for d in retried:
        failed = [a for a in d.history if a.outcome == "retryable"]
        assert failed and all(a.finished_at is not None for a in failed), d.history
        assert d.history[-1].outcome == "delivered", d.history
        # each retry waited at least its jittered backoff (a lower bound: load only adds)
        for before, after in zip(d.history, d.history[1:], strict=False):
            waited = (after.claimed_at - before.finished_at).total_seconds()
            assert waited >= 0.8 * min(4.0, 0.5 * 2 ** (before.attempt - 1)) - 0.05, (
                harness.explain(c, f"attempt {after.attempt} came {waited:.2f}s early: {d}")
            )
    # ...and did not hammer it: the breakers opened for the HK agencies that were busy
    hk_agencies = {d.destination for d in histories}
    opened = {a for a in hk_agencies if seen.get(a, set()) & {"open", "half_open"}}
    assert opened, harness.explain(c, f"no HK breaker opened during the outage: {seen}")
    assert not any(a.startswith("MO-") and s - {"closed"} for a, s in seen.items()), seen
    assert all(state == "closed" for state in harness.breakers(c).values()), harness.breakers(c)
    # the MO cases went through at the first attempt
    mo_attempts = [
        d.attempts
        for r in mo_refs
        for d in harness.detail(c, r).deliveries
        if d.kind == "submission"
    ]
    assert mo_attempts == [1] * PER_REGION, mo_attempts
