"""Acceptance 5: a duplicate delivery task changes nothing.

Celery redelivers and the sweep republishes, so one outbox row may be run twice, even at the
same moment. In-process: ``deliver(runtime, outbox_id)`` — the task's body — run by two
threads at once and again afterwards. Through a real broker: the same outbox id published
twice (``gateway.tasks.publish``, from a process built for the cluster) to a running worker.
Either way the agency gets the message once, one receipt is stored, one attempt recorded.
"""

from __future__ import annotations

import threading
import time

from gateway.delivery.deliver import deliver
from gateway.devkit.cluster import synthetic_applications

PUBLISH_TWICE = """
import sys
from gateway import tasks
tasks.declare_queues()
for outbox_id in sys.argv[1:]:
    tasks.publish(outbox_id)
    tasks.publish(outbox_id)
print("published", len(sys.argv) - 1)
"""


def _row(harness, c, case_ref: str):
    (row,) = [r for r in harness.rows(c) if r.case_ref == case_ref]
    return row


def _assert_once(harness, c, case_ref: str) -> None:
    harness.assert_delivered_once(c, [case_ref])
    d = harness.detail(c, case_ref)
    (delivery,) = [x for x in d.deliveries if x.kind == "submission"]
    why = f"{case_ref}: {delivery}"
    assert delivery.attempts == 1, harness.explain(c, f"a duplicate run made an attempt: {why}")
    assert [a.outcome for a in delivery.history] == ["delivered"], harness.explain(c, why)
    assert len(d.receipts) == 1, harness.explain(c, why)
    sandbox = c.sandbox_store(d.summary.region)
    got = sandbox.count_messages(message_id=delivery.message_id)
    assert got == 1, harness.explain(c, f"the agency got {delivery.message_id} {got} times")
    assert [e.event for e in d.events] == ["filed", "delivered"], d.events


def test_duplicate_task_runs_change_nothing(mode, deployments, harness):
    c = deployments(mode)
    c.start_sandbox("HK")
    c.start_sandbox("MO")
    # no relay, sweep or embedded gateway: only this test runs deliveries
    if mode != "embedded":
        c.start("worker")
    in_process, via_broker = c.file(synthetic_applications(2))

    # the task body twice at the same moment, then once more after it is done
    outbox_id = _row(harness, c, in_process).id
    start = threading.Barrier(2)
    results: list[str | None] = []

    def run() -> None:
        start.wait(timeout=30)
        results.append(deliver(c.runtime, outbox_id))

    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    done = [r for r in results if r is not None]
    assert len(results) == 2 and done == ["delivered"], harness.explain(c, f"runs: {results}")
    assert deliver(c.runtime, outbox_id) is None  # final: a later duplicate does nothing
    _assert_once(harness, c, in_process)

    # the same outbox id published twice to the broker a worker consumes
    outbox_id = _row(harness, c, via_broker).id
    if mode == "embedded":  # the in-process broker is `gbagw run`'s own: run the body twice
        assert deliver(c.runtime, outbox_id) == "delivered"
        assert deliver(c.runtime, outbox_id) is None
    else:
        done = harness.python(c, PUBLISH_TWICE, outbox_id)
        assert "published 1" in done.stdout, done.stdout
        harness.settle(c, 60, "the twice-published delivery")
        # both tasks were taken from the queue; give the second one time to finish its run
        harness.until(c, lambda: harness.queue_depth(c) == 0, "the worker taking both tasks")
        time.sleep(1.0)
    _assert_once(harness, c, via_broker)
    assert c.outbox_states() == {"pending": 0, "sending": 0, "delivered": 2, "dead": 0}
