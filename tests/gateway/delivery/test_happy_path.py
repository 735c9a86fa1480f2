"""Acceptance 1: the ten bundled examples, filed into a running deployment, are delivered once
each with a verified receipt; filing again changes nothing; other content under a filed
application number is a conflict."""

from __future__ import annotations

import copy
import json
import time

import pytest

from gateway.devkit.cluster import cluster
from gateway.devkit.examples import bundled_examples
from gateway.store import ApplicationConflict


def test_bundled_examples_are_delivered_once_with_verified_receipts(mode, tmp_path, harness):
    examples = [json.loads(p.read_text("utf-8")) for p in bundled_examples()]
    assert len(examples) == 10
    started = time.monotonic()
    with cluster(tmp_path / "c", mode) as c:
        filing = harness.filing(c)
        filed = [filing.file(app) for app in examples]
        assert all(f.created for f in filed), [f for f in filed if not f.created]
        refs = [f.case_ref for f in filed]
        assert len(set(refs)) == 10
        settled = harness.settle(c, 90, "the ten bundled examples")

        assert c.outbox_states() == {"pending": 0, "sending": 0, "delivered": 10, "dead": 0}, (
            harness.explain(c, "not every example was delivered")
        )
        harness.assert_delivered_once(c, refs)
        for f in filed:
            d = harness.detail(c, f.case_ref)
            assert d.summary.agency == f.agency
            (delivery,) = [x for x in d.deliveries if x.kind == "submission"]
            assert delivery.attempts == 1, harness.explain(c, f"{f.case_ref}: {delivery}")
            assert [a.outcome for a in delivery.history] == ["delivered"]
            assert d.summary.agency_case_ref, d.summary
            # the message the agency got is the one the gateway signed and stored
            sandbox = c.sandbox_store(d.summary.region)
            assert sandbox.count_messages(message_id=delivery.message_id) == 1, harness.explain(
                c, f"{f.case_ref}: the agency did not get {delivery.message_id} exactly once"
            )
            outbound = [
                m for m in d.messages if m.direction == "out" and "." not in m.kind
            ]  # not case.* events
            assert [m.message_id for m in outbound] == [delivery.message_id]
            assert [e.event for e in d.events] == ["filed", "delivered"], d.events

        # operators see the same through the real CLI
        listed = json.loads(harness.gbagw(c, "cases", "list", "--json").stdout)
        assert {r["case_ref"]: r["state"] for r in listed} == dict.fromkeys(refs, "delivered")

        # the same application again: the same case, nothing written, nothing sent
        received = {r: c.sandbox_store(r).count_messages() for r in ("HK", "MO")}
        again = [filing.file(app) for app in examples]
        assert [(a.case_ref, a.created) for a in again] == [(r, False) for r in refs]
        done = harness.gbagw(c, "file", "--json", *map(str, bundled_examples()))
        results = [json.loads(line) for line in done.stdout.splitlines()]
        assert [(r["result"], r["case_ref"]) for r in results] == [
            ("already-filed", r) for r in refs
        ], done.stdout

        # other content under a filed application number: a conflict, nothing filed
        changed = copy.deepcopy(examples[0])
        changed["submittedAt"] = "2025-03-12T09:30:00+08:00"
        assert changed != examples[0]
        with pytest.raises(ApplicationConflict) as conflict:
            filing.file(changed)
        assert conflict.value.existing_case_ref == refs[0]

        time.sleep(1.0)  # relay passes and a sweep: nothing more may reach an agency
        harness.settle(c, 30, "after the repeats")
        assert c.outbox_states()["delivered"] == 10
        assert len(harness.rows(c)) == 10, harness.explain(c, "a repeat wrote an outbox row")
        after = {r: c.sandbox_store(r).count_messages() for r in ("HK", "MO")}
        assert after == received, harness.explain(c, f"repeats reached an agency: {after}")
        assert sum(after.values()) == 10
    print(
        f"{mode}: 10 examples delivered in {settled:.1f}s; test {time.monotonic() - started:.1f}s"
    )
