"""Acceptance 2: a permanent fault sends a delivery to the dead letters with its reason, at
once (no retries); ``gbagw outbox redrive`` after the fault is fixed delivers it once."""

from __future__ import annotations

import json

from gateway.devkit.cluster import synthetic_applications
from signing import KeyDirectory


def _dead_rows(harness, c) -> list[dict]:
    done = harness.gbagw(c, "outbox", "list", "--state", "dead", "--json")
    return json.loads(done.stdout)


def _one_application(region: str) -> dict:
    return next(a for a in synthetic_applications(10) if a["targetRegion"] == region)


def test_untrusted_gateway_certificate_goes_dead_and_redrive_delivers_once(
    mode, deployments, harness
):
    """The HK agency does not know the gateway's certificate (its key directory is another
    one): it refuses the signature, a 4xx no retry can fix. Once the agency registers the
    certificate (restarted with the right key directory), a redrive delivers the case."""
    c = deployments(mode)
    strangers = KeyDirectory(c.root / "strangers")
    strangers.init()
    c.start_sandbox("HK", keys_dir=str(strangers.path))
    c.start_sandbox("MO")
    c.start()
    hk, mo = _one_application("HK"), _one_application("MO")
    hk_ref, mo_ref = c.file([hk, mo])
    harness.settle(c, 90, "the refused HK case and the MO case")

    dead = harness.until(c, lambda: _dead_rows(harness, c), "the HK row in the dead letters")
    assert [(r["case_ref"], r["destination"][:3]) for r in dead] == [(hk_ref, "HK-")], dead
    (row,) = dead
    assert row["attempts"] == 1, harness.explain(c, f"a permanent fault was retried: {row}")
    assert row["outcome"] == "permanent", row
    assert row["last_error"].startswith("permanent:"), row
    assert "signature" in row["last_error"].lower(), row
    assert harness.detail(c, hk_ref).summary.state == "undeliverable"
    hk_sandbox = c.sandbox_store("HK")
    assert hk_sandbox.count_cases() == 0
    assert hk_sandbox.count_messages(kind="CaseSubmission", outcome="SIGNATURE") == 1
    harness.assert_delivered_once(c, [mo_ref])  # the other region was never concerned

    # the fault is fixed (the agency registers our certificate), then the operator redrives
    c.start_sandbox("HK")
    done = harness.gbagw(c, "outbox", "redrive", row["id"])
    assert f"redriven {row['id']}" in done.stdout, done.stdout
    harness.settle(c, 90, "the redriven HK case")

    assert _dead_rows(harness, c) == []
    harness.assert_delivered_once(c, [hk_ref, mo_ref])
    assert hk_sandbox.count_messages(message_id=row["message_id"], outcome="new") == 1
    assert hk_sandbox.count_messages(kind="CaseSubmission") == 2  # once refused, once accepted
    assert hk_sandbox.count_cases() == 1
    d = harness.detail(c, hk_ref)
    (delivery,) = [x for x in d.deliveries if x.kind == "submission"]
    assert [a.outcome for a in delivery.history] == ["permanent", "delivered"], delivery.history
    assert [e.event for e in d.events] == ["filed", "undeliverable", "redriven", "delivered"]
    # redriving a delivered row is refused and changes nothing
    again = harness.gbagw(c, "outbox", "redrive", row["id"], check=False)
    assert again.returncode != 0 and "not a dead outbox row" in again.stderr, again
    assert hk_sandbox.count_messages(kind="CaseSubmission") == 2


def test_wrong_agency_key_goes_dead_naming_the_receipt_signature(deployments, harness):
    """The HK agency signs its receipt with a key registered nowhere: the gateway cannot
    believe it, so the delivery is dead at once with a reason naming the signature (the
    agency did file the case). After the key is fixed and the row redriven the case ends
    delivered, held once by the agency: the repeat is answered with the receipt it stored,
    re-signed with the key it holds now (adapters/sandbox/README.md).
    """
    c = deployments("embedded")
    c.start_sandbox("HK", faults={"wrong_key": True})
    c.start_sandbox("MO")
    c.start()
    (ref,) = c.file([_one_application("HK")])
    harness.settle(c, 90, "the HK case with a wrongly signed receipt")
    (row,) = _dead_rows(harness, c)
    assert row["case_ref"] == ref and row["attempts"] == 1, row
    assert "Receipt signature rejected" in row["last_error"], row
    assert "not registered" in row["last_error"], row
    sandbox = c.sandbox_store("HK")
    assert sandbox.count_cases(ref) == 1
    assert sandbox.count_messages(message_id=row["message_id"], outcome="new") == 1

    c.start_sandbox("HK")
    harness.gbagw(c, "outbox", "redrive", row["id"])
    harness.settle(c, 90, "the redriven HK case")
    assert sandbox.count_messages(message_id=row["message_id"]) == 2
    assert sandbox.count_cases(ref) == 1
    rows = harness.rows(c)
    assert [(r.id, r.state) for r in rows] == [(row["id"], "delivered")], rows
    assert sandbox.count_messages(message_id=row["message_id"], outcome="duplicate") == 1
    harness.assert_delivered_once(c, [ref])
    # the receipt the gateway kept is the agency's first one (same content), now verifiable
    (receipt,) = harness.detail(c, ref).receipts
    assert receipt.agency_case_ref == sandbox.agency_case_ref(ref)
