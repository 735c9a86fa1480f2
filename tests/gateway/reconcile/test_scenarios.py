"""The scenario matrix and the 補正 round trip, over the real service.

Both sandbox agencies (HK pushes CBCE StatusNotices, Macao is polled over SIP) × every
scenario (happy, 補正, reject, withdraw) × every fault mode (none, duplicate notices,
out-of-order notices, agency unavailable for a while, wrong signing key): each case must end
in the state its sandbox script ends in, and Guangdong must have been told every step once, in
order per case, with a signature its receiver verified.

One gateway per mode, shared by the module (``Cluster``: ``gbagw run`` on SQLite, or
PostgreSQL with ``gbagw worker`` / ``relay`` / ``beat`` / ``api`` on RabbitMQ), with both
sandbox agencies and the Guangdong receiver (``gbagw sandbox gd``) as processes. One test per
(region, fault): the region's sandbox restarts with the fault, four cases are filed — one per
scenario, chosen per case ref (``scenarios_by_case``) — and each is checked. A 補正 is
answered with the material code Guangdong was told: in the matrix through the function
``gbagw supplement`` runs (a process per call costs seconds), in the round trip with the real
command. Quarantine is read with the real ``gbagw inbound list --quarantined --json``.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json
import socket
import subprocess
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from adapters.sandbox import SandboxStore
from gateway.devkit.cluster import BROKERS, GBAGW, POSTGRES_ADMIN, Cluster, synthetic_applications
from gateway.render.translate import case_ref_for
from gateway.store import show_case, transaction
from gateway.store.inbound import list_inbound
from gateway.store.tables import AgencyEvent, Case, CaseEvent, Message, Outbox
from gateway.supplements.forward import forward_detailed
from signing import parse_untrusted

REGIONS = ("HK", "MO")
SCENARIOS = ("happy", "supplement", "reject", "withdraw")
#: the state each sandbox script ends in (adapters/sandbox/script.py)
FINAL = {
    "happy": "COMPLETED",
    "supplement": "COMPLETED",
    "reject": "REJECTED",
    "withdraw": "WITHDRAWN",
}
TERMINAL = frozenset(FINAL.values())
#: what Guangdong hears last, per final state: (event type, data.status)
LAST_NOTIFICATION = {
    "COMPLETED": ("case.result", "COMPLETED"),
    "REJECTED": ("case.result", "REJECTED"),
    "WITHDRAWN": ("case.withdrawn", "WITHDRAWN"),
}
#: seconds between scripted steps: a case runs its whole script in about a second
STEP = 0.2
#: a step so long that nothing after the first falls due while the key is about to go wrong
HOLD = 3600.0
#: after the key went wrong, the next step falls due this long after the switch
WRONG_KEY_DUE = 2.0
FAULTS: dict[str, dict[str, Any]] = {
    "no-fault": {},
    "duplicate-notices": {"duplicate_notices": True},
    "out-of-order-notices": {"out_of_order_notices": True},
    # the four submissions and their first retries get 503 / soap:Server
    "agency-unavailable": {"unavailable_requests": 8},
    "wrong-key": {"wrong_key": True},
}
SUBMISSION_KIND = {"HK": "CaseSubmission", "MO": "PedidoProcesso"}
SUPPLEMENT_KIND = {"HK": "Supplement", "MO": "EntregaDocumentos"}
#: the sandbox's 補正 remark (zh-HK) and what Guangdong must read (Simplified)
REMARK_ORIGINAL, REMARK_SIMPLIFIED = "請補交所需文件", "请补交所需文件"
CASE_REF_TAGS = ("GatewayCaseRef", "ReferenciaGateway")
WAIT = 90.0


# --- the gateways -------------------------------------------------------------------------------


def _reachable(url: str, default_port: int) -> bool:
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    with (
        contextlib.suppress(OSError),
        socket.create_connection((parts.hostname or "127.0.0.1", parts.port or default_port), 2.0),
    ):
        return True
    return False


@pytest.fixture(scope="module")
def gateways(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[[str], Cluster]]:
    """``gateways(mode)``: the module's running gateway of that mode, with both sandbox
    agencies and the Guangdong receiver, started on first use; all closed at the end."""
    opened: dict[str, Cluster] = {}

    def get(mode: str) -> Cluster:
        if mode not in opened:
            if mode != "embedded":
                for url, port in ((POSTGRES_ADMIN, 5432), (BROKERS[mode], 5672)):
                    if not _reachable(url, port):
                        pytest.fail(f"the {mode} scenario needs {url}: nothing answers")
            root = tmp_path_factory.mktemp(mode)
            c = Cluster(root, mode, reconcile=True, notify=True)  # type: ignore[arg-type]
            opened[mode] = c
            for region in REGIONS:  # each test starts its sandbox, with its cases' scenarios
                c.reserve_sandbox(region)  # before the roles, which read the directory once
            c.start_receiver()
            c.start()
        return opened[mode]

    try:
        yield get
    finally:
        for c in opened.values():
            c.close()


# --- what a user runs and sees ------------------------------------------------------------------


def gbagw(c: Cluster, *args: str) -> subprocess.CompletedProcess[str]:
    """``gbagw ARGS`` as an operator runs it, against the cluster's settings; must succeed."""
    done = subprocess.run(
        [GBAGW, *args], env=c.env(), cwd=c.root, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0 and "Traceback" not in done.stderr, explain(
        c, f"gbagw {' '.join(args)} exited {done.returncode}: {done.stdout}\n{done.stderr}"
    )
    return done


def quarantined(c: Cluster) -> list[dict[str, Any]]:
    done = gbagw(c, "inbound", "list", "--quarantined", "--json", "--limit", "10000")
    return list(json.loads(done.stdout))


def material_for(c: Cluster, case_ref: str, asked: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """The applicant's file for what the agency asked (Guangdong's material code, from the
    ``case.supplement_requested`` event) as the platform references it; the same each time."""
    code = asked["required"][0]["materialCode"]
    assert code, explain(c, f"{case_ref}: Guangdong was not told which material: {asked}")
    digest = hashlib.sha256(f"{case_ref}/{code}".encode()).hexdigest()
    return code, {
        "fileName": f"{code}-補交.pdf",
        "mediaType": "application/pdf",
        "size": 4096,
        "sha256": digest,
        "url": f"https://files.gd.gov.cn/materials/{digest[:16]}.pdf",
    }


def forward_with_cli(c: Cluster, case_ref: str, asked: dict[str, Any]) -> dict[str, Any]:
    """``gbagw supplement REF --material CODE=FILE --json``, as the platform's operator runs it."""
    code, reference = material_for(c, case_ref, asked)
    path = c.root / f"{case_ref}-{code}.json"
    path.write_text(json.dumps(reference, ensure_ascii=False), encoding="utf-8")
    done = gbagw(c, "supplement", case_ref, "--material", f"{code}={path}", "--json")
    return dict(json.loads(done.stdout))


def forward_in_process(c: Cluster, case_ref: str, asked: dict[str, Any]) -> dict[str, Any]:
    """What ``gbagw supplement`` does, without a process per call (the round trip below runs
    the real command): the same function, transaction and signing key."""
    code, reference = material_for(c, case_ref, asked)
    with transaction(c.runtime.sessions) as session:
        done = forward_detailed(
            session, case_ref, [{"code": code, **reference}], c.keys.gateway_key(), now=utcnow()
        )
    return {
        "result": "forwarded" if done.created else "already-forwarded",
        "outbox_id": done.outbox_id,
    }


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


# --- reading the store --------------------------------------------------------------------------


def states(c: Cluster, refs: Iterable[str]) -> dict[str, str]:
    with transaction(c.runtime.sessions, read_only=True) as session:
        rows = session.execute(select(Case.case_ref, Case.state).where(Case.case_ref.in_(refs)))
        return {ref: state for ref, state in rows}


def queued_notifications(session: Session, ref: str) -> list[tuple[str, str]]:
    """(event id, outbox state) of every notification the gateway queued for the case."""
    rows = session.execute(
        select(Message.message_id, Outbox.state)
        .join(Message, Message.id == Outbox.message_pk)
        .where(Outbox.case_ref == ref, Outbox.kind == "notification")
    )
    return [(event_id, state) for event_id, state in rows]


def explain(c: Cluster, what: str, refs: Iterable[str] = ()) -> str:
    """``what``, then each case's timeline, the outbox counts and the tail of every log."""
    lines = [what, f"cluster {c.name} ({c.mode}) at {c.root}"]
    with contextlib.suppress(Exception):
        lines.append(f"deliveries {c.outbox_states()}, notifications {c.notification_states()}")
        with transaction(c.runtime.sessions, read_only=True) as session:
            for ref in refs:
                detail = show_case(session, ref)
                if detail is None:
                    lines.append(f"{ref}: not filed")
                    continue
                lines.append(f"{ref}: {detail.summary.state}")
                lines += [f"    {e.event} {e.state or ''} {e.detail or ''}" for e in detail.events]
                lines += [
                    f"    {d.kind} {d.state} attempts={d.attempts} {d.last_error or ''}"
                    for d in detail.deliveries
                    if d.kind != "notification" or d.state != "delivered"
                ]
    for log in sorted(c.root.glob("*.log")):
        lines.append(f"----- {log.name} -----")
        lines += c.log(log.stem).splitlines()[-30:]
    return "\n".join(lines)


def case_named_in(body: bytes) -> str | None:
    """The case ref a quarantined document names (read unverified, to attribute it)."""
    with contextlib.suppress(Exception):
        root = parse_untrusted(body)
        for element in root.iter():
            if isinstance(element.tag, str) and element.tag.rsplit("}", 1)[-1] in CASE_REF_TAGS:
                return (element.text or "").strip()
    return None


def quarantined_by_case(
    c: Cluster, refs: Iterable[str], rows: list[dict[str, Any]] | None = None
) -> dict[str, list[dict[str, Any]]]:
    """The quarantined documents about each case (``rows`` as ``gbagw inbound list
    --quarantined --json`` prints them; else read in-process the same way): by the case the
    gateway attributed, else by the case the document names."""
    wanted = set(refs)
    found: dict[str, list[dict[str, Any]]] = {ref: [] for ref in wanted}
    if rows is None:
        with transaction(c.runtime.sessions, read_only=True) as session:
            listed = list_inbound(session, quarantined=True, limit=10_000)
        rows = [
            {"id": r.id, "case_ref": r.case_ref, "reason": r.reason, "via": r.via} for r in listed
        ]
    with transaction(c.runtime.sessions, read_only=True) as session:
        for row in rows:
            ref = row["case_ref"]
            if ref is None:
                ref = case_named_in(session.get_one(Message, row["id"]).body)
            if ref in wanted:
                found[ref].append(row)
    return found


# --- one batch: four cases, one per scenario, under one fault ----------------------------------


@dataclass
class Batch:
    c: Cluster
    region: str
    fault: str
    refs: dict[str, str]  # scenario → case ref
    supplements: dict[str, dict[str, Any]] = field(default_factory=dict)  # ref → forwarded
    quarantined: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    def explain(self, what: str) -> str:
        return explain(self.c, f"{self.region} {self.fault}: {what}", self.refs.values())


def new_applications(region: str, tag: str) -> dict[str, dict[str, Any]]:
    """One application of ``region`` per scenario, each for another service where possible."""
    mine = [a for a in synthetic_applications(10, tag=tag) if a["targetRegion"] == region]
    return {scenario: mine[i % len(mine)] for i, scenario in enumerate(SCENARIOS)}


def run_batch(c: Cluster, region: str, fault: str) -> Batch:
    applications = new_applications(region, f"{fault[:3].upper()}{uuid.uuid4().hex[:6]}")
    refs = {s: case_ref_for(a["applicationNo"], region) for s, a in applications.items()}
    by_case = {ref: scenario for scenario, ref in refs.items()}
    batch = Batch(c, region, fault, refs)
    if fault == "wrong-key":
        c.start_sandbox(region, step_seconds=HOLD, scenarios_by_case=by_case)
    else:
        c.start_sandbox(region, step_seconds=STEP, scenarios_by_case=by_case, faults=FAULTS[fault])
    # after the sandbox started (seconds): the agency counts its steps from receipt
    filed_at = time.monotonic()
    assert c.file(applications.values()) == list(refs.values())
    if fault == "wrong-key":
        _wrong_key_for_a_while(batch, by_case, filed_at)
    _drive_to_the_end(batch)
    return batch


def _wrong_key_for_a_while(batch: Batch, by_case: dict[str, str], filed_at: float) -> None:
    """The cases are delivered under the agency's registered key, their first step told, the
    rest held back. Then the agency signs with a key registered nowhere, and its next step
    falls due: pushed (HK), pulled and polled, every answer is quarantined. Once each case had
    one, the key is fixed and the rest of each script falls due at once."""
    c, region = batch.c, batch.region
    assert c.wait_settled(WAIT), batch.explain("submissions not delivered")
    # only the wrong-key process can emit the next step: it falls due after the switch
    step = time.monotonic() - filed_at + WRONG_KEY_DUE
    c.start_sandbox(
        region, step_seconds=step, scenarios_by_case=by_case, faults=FAULTS["wrong-key"]
    )
    # a pull may quarantine a case's step before the push does (3 s of silence): where the
    # agency pushes, wait for the pushed one too
    via = "push" if region == "HK" else None
    deadline = time.monotonic() + WAIT
    while True:
        batch.quarantined = quarantined_by_case(c, batch.refs.values())
        if all(
            rows and (via is None or any(q["via"] == via for q in rows))
            for rows in batch.quarantined.values()
        ):
            break
        assert time.monotonic() < deadline, batch.explain(
            f"not every case had a wrong-key notice quarantined: {batch.quarantined}"
        )
        time.sleep(0.5)
    c.start_sandbox(region, step_seconds=STEP, scenarios_by_case=by_case)
    # what an operator sees: the same documents, through the real command
    batch.quarantined = quarantined_by_case(c, batch.refs.values(), quarantined(c))


def _drive_to_the_end(batch: Batch) -> None:
    """Answer the 補正 once Guangdong has heard of it, until every case is closed and every
    notification delivered."""
    c, refs = batch.c, batch.refs
    deadline = time.monotonic() + WAIT
    while True:
        now_states = states(c, refs.values())
        ref = refs["supplement"]
        if ref not in batch.supplements:
            asked = [e for e in c.received(ref) if e["type"] == "case.supplement_requested"]
            if asked:
                batch.supplements[ref] = forward_in_process(c, ref, asked[0]["event"]["data"])
        if all(now_states.get(r) in TERMINAL for r in refs.values()):
            break
        assert time.monotonic() < deadline, batch.explain(f"cases not closed: {now_states}")
        time.sleep(0.2)
    assert c.wait_notified(WAIT), batch.explain("notifications not all delivered")


# --- what every case must show -------------------------------------------------------------------


def problems_of(batch: Batch, scenario: str) -> list[str]:
    """Every way the case of ``scenario`` differs from what the agency and Guangdong must see."""
    c, region, ref = batch.c, batch.region, batch.refs[scenario]
    sandbox: SandboxStore = c.sandbox_store(region)
    problems: list[str] = []
    final = FINAL[scenario]
    agency_statuses = sandbox.statuses(ref)
    if not agency_statuses or agency_statuses[-1] != final:
        problems.append(f"the sandbox's script ended in {agency_statuses[-1:]}, not {final}")
    with transaction(c.runtime.sessions, read_only=True) as session:
        detail = show_case(session, ref)
        assert detail is not None
        stored = session.execute(
            select(AgencyEvent.seq, AgencyEvent.status, AgencyEvent.message_pk)
            .where(AgencyEvent.case_ref == ref)
            .order_by(AgencyEvent.seq)
        ).all()
        applied_from = {pk for _, _, pk in stored}
        notifications = queued_notifications(session, ref)
    if detail.summary.state != final:
        problems.append(f"gateway state {detail.summary.state}, the agency's is {final}")
    for seq, status, _ in stored:  # applied once each, as the agency numbered them
        if seq > len(agency_statuses) or agency_statuses[seq - 1] != status:
            problems.append(f"the gateway holds seq {seq} {status}, the agency {agency_statuses}")
    submissions = [d for d in detail.deliveries if d.kind == "submission"]
    if [d.state for d in submissions] != ["delivered"]:
        problems.append(f"submission {[(d.state, d.last_error) for d in submissions]}")
    if sandbox.count_messages(case_ref=ref, kind=SUBMISSION_KIND[region], outcome="new") != 1:
        problems.append("the agency did not file the submission exactly once")

    supplements = sandbox.count_messages(case_ref=ref, kind=SUPPLEMENT_KIND[region], outcome="new")
    if supplements != (1 if scenario == "supplement" else 0):
        problems.append(f"the agency took {supplements} supplements")
    problems += _notification_problems(c, ref, final, {m for m, _ in notifications})
    if any(s != "delivered" for _, s in notifications):
        problems.append(f"notifications not delivered: {notifications}")

    if batch.fault == "wrong-key":
        mine = batch.quarantined.get(ref, [])
        if not mine:
            problems.append("no wrong-key notice quarantined")
        if any("signature" not in (q["reason"] or "").lower() for q in mine):
            problems.append(f"quarantined for another reason: {[q['reason'] for q in mine]}")
        if applied_from & {q["id"] for q in mine}:
            problems.append("a quarantined notice was applied")
    return problems


def _notification_problems(c: Cluster, ref: str, final: str, queued: set[str]) -> list[str]:
    """Guangdong got each queued notification once, in order, verified; the last says final."""
    received = c.received(ref)
    problems = []
    ids = [e["id"] for e in received]
    if sorted(ids) != sorted(queued) or len(set(ids)) != len(ids):
        problems.append(f"receiver got {len(ids)} events, {len(queued)} were queued")
    if [e["seq"] for e in received] != list(range(1, len(received) + 1)):
        problems.append(f"arrival order {[e['seq'] for e in received]}")
    if not all(e["inOrder"] for e in received) or any(e["repeats"] for e in received):
        problems.append("an event arrived out of order or more than once")
    if received:
        last = received[-1]["event"]
        if (last["type"], last["data"].get("status")) != LAST_NOTIFICATION[final]:
            problems.append(f"Guangdong last heard {last['type']} {last['data']}")
        if final == "COMPLETED" and not last["data"].get("resultDocument"):
            problems.append("the result was announced without its document")
    return problems


# --- the matrix ----------------------------------------------------------------------------------


@pytest.mark.parametrize("fault", list(FAULTS))
@pytest.mark.parametrize("region", REGIONS, ids=["hk", "mo"])
def test_every_scenario_ends_in_the_agency_s_final_state(
    region: str, fault: str, gateways: Callable[[str], Cluster]
) -> None:
    batch = run_batch(gateways("embedded"), region, fault)
    problems = {s: p for s in SCENARIOS if (p := problems_of(batch, s))}
    assert not problems, batch.explain(f"scenarios that went wrong: {problems}")
    assert batch.c.receiver_stats()["refused"] == 0, batch.explain("a notification was refused")
    if fault == "out-of-order-notices":
        assert_seen_out_of_order(batch)
    if fault == "wrong-key":  # HK's own pushes were refused too, not only what was asked
        via = {q["via"] for rows in batch.quarantined.values() for q in rows}
        assert ("push" if region == "HK" else "poll") in via, batch.explain(f"quarantined {via}")
    if fault == "agency-unavailable":
        retried = [
            d
            for ref in batch.refs.values()
            for d in _detail(batch.c, ref).deliveries
            if d.kind == "submission" and any(a.outcome == "retryable" for a in d.history)
        ]
        assert retried, batch.explain("no delivery met the unavailable agency")


def assert_seen_out_of_order(batch: Batch) -> None:
    """The fault really happened: a later notice came first, so a gap was recorded."""
    with transaction(batch.c.runtime.sessions, read_only=True) as session:
        gaps = session.scalars(
            select(CaseEvent.case_ref).where(
                CaseEvent.case_ref.in_(batch.refs.values()), CaseEvent.event == "gap"
            )
        ).all()
    assert gaps, batch.explain("no notice arrived out of order (no gap recorded)")


def _detail(c: Cluster, ref: str) -> Any:
    with transaction(c.runtime.sessions, read_only=True) as session:
        return show_case(session, ref)


def test_out_of_order_notices_on_rabbitmq_and_postgresql(
    gateways: Callable[[str], Cluster],
) -> None:
    """Both regions' batches at once, every role its own process, on PostgreSQL and RabbitMQ."""
    c = gateways("rabbitmq")
    c.filing  # noqa: B018 - built once, before two threads file through it
    with ThreadPoolExecutor(len(REGIONS)) as pool:
        batches = list(pool.map(lambda r: run_batch(c, r, "out-of-order-notices"), REGIONS))
    for batch in batches:
        problems = {s: p for s in SCENARIOS if (p := problems_of(batch, s))}
        assert not problems, batch.explain(f"scenarios that went wrong: {problems}")
        assert_seen_out_of_order(batch)


# --- the 補正 round trip -------------------------------------------------------------------------


@pytest.mark.parametrize("region", REGIONS, ids=["hk", "mo"])
def test_supplement_round_trip_with_guangdong_down_for_a_while(
    region: str, gateways: Callable[[str], Cluster]
) -> None:
    """The agency asks for a document; Guangdong reads the request in Simplified Chinese with
    its own material code; the applicant's document goes with ``gbagw supplement`` while
    Guangdong's receiver is down; the agency gets it once and completes the case; once the
    receiver is back it has every notification once, in order, verified."""
    c = gateways("embedded")
    (application,) = [
        a
        for a in synthetic_applications(10, tag=f"RT{uuid.uuid4().hex[:6]}")
        if a["targetRegion"] == region
    ][:1]
    ref = case_ref_for(application["applicationNo"], region)
    c.start_sandbox(region, step_seconds=STEP, scenarios_by_case={ref: "補正"})
    assert c.file([application]) == [ref]

    def asked() -> list[dict[str, Any]]:
        return [e["event"] for e in c.received(ref) if e["type"] == "case.supplement_requested"]

    deadline = time.monotonic() + WAIT
    while not asked():
        assert time.monotonic() < deadline, explain(c, "no supplement request reached GD", [ref])
        time.sleep(0.2)
    (request,) = asked()
    data = request["data"]
    assert (data["remarks"], data["remarksOriginal"]) == (REMARK_SIMPLIFIED, REMARK_ORIGINAL)
    (required,) = data["required"]
    # the agency asked for the first document again; Guangdong reads its own material code
    assert (required["agencyType"], required["materialCode"]) == _first_document(c, ref), data
    assert required["dueDate"], data

    c.stop_receiver()
    sent = forward_with_cli(c, ref, data)
    assert sent["result"] == "forwarded" and sent["answered_requests"] == [data["requestId"]]
    deadline = time.monotonic() + WAIT
    while states(c, [ref]).get(ref) != "COMPLETED":
        assert time.monotonic() < deadline, explain(c, "the case did not complete", [ref])
        time.sleep(0.2)
    failing = _until(c, ref, lambda: _failed_attempts(c, ref) >= 3, "notifications failing")
    assert failing
    again = forward_with_cli(c, ref, data)  # the same documents again change nothing
    assert (again["result"], again["outbox_id"]) == ("already-forwarded", sent["outbox_id"])

    c.start_receiver()
    assert c.wait_notified(WAIT), explain(c, "notifications not delivered after restart", [ref])
    sandbox = c.sandbox_store(region)
    assert sandbox.count_messages(case_ref=ref, kind=SUPPLEMENT_KIND[region], outcome="new") == 1
    assert sandbox.count_messages(case_ref=ref, kind=SUPPLEMENT_KIND[region]) == 1
    received = c.received(ref)
    with transaction(c.runtime.sessions, read_only=True) as session:
        queued = {event_id for event_id, _ in queued_notifications(session, ref)}
    assert _notification_problems(c, ref, "COMPLETED", queued) == [], received
    types = [e["type"] for e in received]
    assert types.index("case.supplement_requested") < types.index("case.result"), types
    assert c.receiver_stats()["refused"] == 0


def _first_document(c: Cluster, ref: str) -> tuple[str, str]:
    """The case's first document as the gateway sent it: the agency's type for it, and the
    Guangdong material code its id starts with (``DocId`` = code + ``-`` + digest)."""
    with transaction(c.runtime.sessions, read_only=True) as session:
        body = session.scalars(
            select(Message.body)
            .where(Message.case_ref == ref, Message.kind.in_(SUBMISSION_KIND.values()))
            .order_by(Message.id)
        ).first()
    assert body is not None
    root = parse_untrusted(body)
    for element in root.iter():
        tag = element.tag.rsplit("}", 1)[-1] if isinstance(element.tag, str) else ""
        if tag == "Document" and element.get("Type"):  # CBCE: attributes
            return str(element.get("Type")), str(element.get("DocId")).split("-")[0]
        if tag == "Documento" and element.findtext("{*}IdDocumento"):  # SIP: child elements
            doc_id = str(element.findtext("{*}IdDocumento"))
            return str(element.findtext("{*}Tipo")), doc_id.split("-")[0]
    raise AssertionError(f"{ref}: the submission carries no document")


def _failed_attempts(c: Cluster, ref: str) -> int:
    with transaction(c.runtime.sessions, read_only=True) as session:
        return sum(
            session.scalars(
                select(Outbox.attempts).where(
                    Outbox.case_ref == ref,
                    Outbox.kind == "notification",
                    Outbox.state == "pending",
                )
            )
        )


def _until(c: Cluster, ref: str, condition: Callable[[], bool], what: str) -> bool:
    deadline = time.monotonic() + WAIT
    while not condition():
        assert time.monotonic() < deadline, explain(c, f"timed out: {what}", [ref])
        time.sleep(0.2)
    return True
