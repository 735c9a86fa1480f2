"""The delivery suite's harness: whole deployments (``gateway.devkit.cluster.Cluster``) per test.

Every test takes ``mode`` (embedded = SQLite + the in-process broker of ``gbagw run``;
rabbitmq / redis = PostgreSQL + that broker with ``gbagw worker``, ``relay`` and ``beat``) and
opens its clusters through ``deployments``, which closes them (processes killed, PostgreSQL
database dropped, queues deleted) whatever happens. The servers a mode needs must answer:
an unreachable PostgreSQL, RabbitMQ or Redis is a failure, never a skip.

``Harness`` holds what several tests ask of a cluster — wait for the outbox to settle, run
the real CLI, read outbox rows and case details — and builds failure messages that carry the
outbox state and the tail of every role's log, so a CI failure can be read without a rerun.
"""

from __future__ import annotations

import contextlib
import socket
import subprocess
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import pytest

from gateway.devkit.cluster import BROKERS, GBAGW, MODES, POSTGRES_ADMIN, Cluster


def _reachable(host: str, port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection((host, port), 2.0):
        return True
    return False


def _address(url: str, default_port: int) -> tuple[str, int, str]:
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    return parts.hostname or "127.0.0.1", parts.port or default_port, url


_SERVERS = {
    "postgresql": _address(POSTGRES_ADMIN, 5432),
    "rabbitmq": _address(BROKERS["rabbitmq"], 5672),
    "redis": _address(BROKERS["redis"], 6379),
}
_NEEDS = {"embedded": (), "rabbitmq": ("postgresql", "rabbitmq"), "redis": ("postgresql", "redis")}


@pytest.fixture(params=MODES)
def mode(request: pytest.FixtureRequest) -> str:
    """The deployment mode; its servers must answer (a failure, never a skip)."""
    for server in _NEEDS[request.param]:
        host, port, url = _SERVERS[server]
        if not _reachable(host, port):
            pytest.fail(
                f"{server} is required by the {request.param} delivery tests and nothing "
                f"answers on {host}:{port} ({url})"
            )
    return str(request.param)


class Harness:
    """Helpers over clusters; its failure messages carry the state and the role logs."""

    LOG_LINES = 80

    def __init__(self) -> None:
        self._pipeline: Any = None

    def filing(self, c: Cluster) -> Any:
        """A ``Filing`` on the cluster's store (what ``gbagw file`` uses), to see ``created``."""
        from gateway.cases.filing import Filing
        from gateway.render.pipeline import Pipeline

        if self._pipeline is None:
            self._pipeline = Pipeline()
        return Filing(self._pipeline, c.keys.gateway_key(), c.runtime.sessions)

    # --- diagnostics ----------------------------------------------------------------------

    def logs(self, c: Cluster) -> str:
        parts = []
        for path in sorted(c.root.glob("*.log")):
            lines = c.log(path.stem).splitlines()[-self.LOG_LINES :]
            parts.append(f"----- {path.stem}.log (last {len(lines)} lines) -----")
            parts.extend(lines)
        return "\n".join(parts)

    def explain(self, c: Cluster, what: str) -> str:
        """``what``, then the outbox counts, rows not delivered, and every role's log tail."""
        lines = [what, f"mode {c.mode}, cluster {c.name}, root {c.root}"]
        try:
            lines.append(f"outbox states: {c.outbox_states()}")
            stuck = [r for r in self.rows(c) if r.state != "delivered"][:20]
            for r in stuck:
                lines.append(
                    f"  {r.id} {r.destination} {r.case_ref} state={r.state} "
                    f"attempts={r.attempts} next={r.next_attempt_at:%H:%M:%S.%f} "
                    f"lease={r.lease_owner} error={r.last_error}"
                )
        except Exception as exc:  # noqa: BLE001 - diagnostics must not hide the failure
            lines.append(f"(outbox unreadable: {type(exc).__name__}: {exc})")
        lines.append(f"processes: { {n: p.poll() for n, p in c.processes.items()} }")
        lines.append(self.logs(c))
        return "\n".join(lines)

    # --- waiting --------------------------------------------------------------------------

    def settle(self, c: Cluster, timeout: float = 90.0, what: str = "deliveries") -> float:
        """Wait until nothing is pending or sending; fail with diagnostics otherwise."""
        started = time.monotonic()
        if not c.wait_settled(timeout):
            pytest.fail(self.explain(c, f"{what}: outbox not settled after {timeout:g}s"))
        return time.monotonic() - started

    def until(
        self,
        c: Cluster,
        condition: Callable[[], Any],
        what: str,
        timeout: float = 60.0,
        interval: float = 0.1,
    ) -> Any:
        """Poll ``condition`` until it is truthy; return its value, or fail explaining."""
        deadline = time.monotonic() + timeout
        while True:
            value = condition()
            if value:
                return value
            if time.monotonic() >= deadline:
                pytest.fail(self.explain(c, f"timed out after {timeout:g}s waiting for {what}"))
            time.sleep(interval)

    # --- the real CLI ---------------------------------------------------------------------

    def gbagw(self, c: Cluster, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        """Run ``gbagw ARGS`` as an operator would, against this cluster's settings."""
        done = subprocess.run(
            [GBAGW, *args],
            env=c.env(),
            cwd=c.root,
            capture_output=True,
            text=True,
            timeout=120,
        )
        if check and done.returncode != 0:
            pytest.fail(
                self.explain(
                    c,
                    f"gbagw {' '.join(args)} exited {done.returncode}\n"
                    f"stdout: {done.stdout}\nstderr: {done.stderr}",
                )
            )
        return done

    def python(self, c: Cluster, code: str, *args: str) -> subprocess.CompletedProcess[str]:
        """Run Python ``code`` (with ``args`` in ``sys.argv[1:]``) in a fresh interpreter with
        the cluster's environment, so ``gateway.tasks.app`` is built for its broker and queue."""
        import sys

        done = subprocess.run(
            [sys.executable, "-c", code, *args],
            env=c.env(),
            cwd=c.root,
            capture_output=True,
            text=True,
            timeout=120,
        )
        if done.returncode != 0:
            pytest.fail(
                self.explain(c, f"helper script exited {done.returncode}\n{done.stderr[-4000:]}")
            )
        return done

    # --- the broker -----------------------------------------------------------------------

    def queue_depth(self, c: Cluster) -> int:
        """Messages ready in the cluster's delivery queue (RabbitMQ or Redis)."""
        queue = f"{c.name}.deliveries"
        if c.mode == "rabbitmq":
            from kombu import Connection

            with Connection(BROKERS["rabbitmq"]) as connection:
                _, count, _ = connection.default_channel.queue_declare(queue=queue, passive=True)
                return int(count)
        assert c.mode == "redis", f"no broker to ask in the {c.mode} mode"
        import redis

        client = redis.Redis.from_url(BROKERS["redis"])
        try:  # the list, and kombu's per-priority lists (queue + "\x06\x16" + priority)
            keys = [k for k in client.scan_iter(match=f"{queue}*") if client.type(k) == b"list"]
            return sum(int(client.llen(k)) for k in keys)
        finally:
            client.close()

    # --- reading the store ----------------------------------------------------------------

    def rows(self, c: Cluster, state: str | None = None) -> list[Any]:
        from gateway.outbox import list_rows
        from gateway.store import transaction

        with transaction(c.runtime.sessions, read_only=True) as session:
            rows = list_rows(session, state, limit=10_000)
        # deliveries to agencies: notifications to Guangdong wait for a webhook of their own
        return [r for r in rows if r.kind != "notification"]

    def detail(self, c: Cluster, case_ref: str) -> Any:
        from gateway.store import show_case, transaction

        with transaction(c.runtime.sessions, read_only=True) as session:
            found = show_case(session, case_ref)
        assert found is not None, self.explain(c, f"case {case_ref} is not in the store")
        return found

    def latencies(self, c: Cluster, case_refs: Iterable[str]) -> dict[str, float]:
        """Seconds from filing (case created_at) to the receipt being recorded, per case."""
        from sqlalchemy import select

        from gateway.store import transaction
        from gateway.store.tables import Case, Receipt

        refs = list(case_refs)
        with transaction(c.runtime.sessions, read_only=True) as session:
            rows = session.execute(
                select(Case.case_ref, Case.created_at, Receipt.recorded_at)
                .join(Receipt, Receipt.case_ref == Case.case_ref)
                .where(Case.case_ref.in_(refs))
            ).all()
        found = {ref: (recorded - created).total_seconds() for ref, created, recorded in rows}
        missing = set(refs) - set(found)
        assert not missing, self.explain(c, f"no receipt for {sorted(missing)[:5]}…")
        return found

    def breakers(self, c: Cluster) -> dict[str, str]:
        from sqlalchemy import select

        from gateway.store import transaction
        from gateway.store.tables import AgencyBreaker

        with transaction(c.runtime.sessions, read_only=True) as session:
            return dict(session.execute(select(AgencyBreaker.agency, AgencyBreaker.state)).all())

    # --- what every end-to-end test ends with ---------------------------------------------

    def assert_delivered_once(self, c: Cluster, case_refs: Iterable[str]) -> None:
        """Each case delivered with one verified receipt, and held exactly once by its agency,
        under the message id the gateway stored; no agency answered a conflict."""
        problems: list[str] = []
        refs = list(case_refs)
        for ref in refs:
            d = self.detail(c, ref)
            region = d.summary.region
            sandbox = c.sandbox_store(region)
            submissions = [x for x in d.deliveries if x.kind == "submission"]
            if d.summary.state != "delivered":
                problems.append(f"{ref}: case state {d.summary.state}")
            if len(submissions) != 1 or submissions[0].state != "delivered":
                problems.append(f"{ref}: deliveries {[(x.kind, x.state) for x in submissions]}")
                continue
            message_id = submissions[0].message_id
            if len(d.receipts) != 1:
                problems.append(f"{ref}: {len(d.receipts)} receipts stored")
            elif d.receipts[0].agency_case_ref != d.summary.agency_case_ref:
                problems.append(f"{ref}: receipt and case disagree on the agency case ref")
            receipts_in = [m for m in d.messages if m.direction == "in" and m.kind == "Receipt"]
            if len(receipts_in) != 1:
                problems.append(f"{ref}: {len(receipts_in)} signed receipts kept")
            unverified = [m.message_id for m in d.messages if not m.verified]
            if unverified:
                problems.append(f"{ref}: unverified messages {unverified}")
            if (n := sandbox.count_cases(ref)) != 1:
                problems.append(f"{ref}: the {region} agency holds {n} cases")
            if (n := sandbox.count_messages(message_id=message_id, case_ref=ref)) < 1:
                problems.append(f"{ref}: the agency never got message {message_id}")
            if (n := sandbox.count_messages(case_ref=ref, outcome="new")) != 1:
                problems.append(f"{ref}: the agency filed it as new {n} times")
        for region in {self.detail(c, ref).summary.region for ref in refs}:
            if (n := c.sandbox_store(region).count_messages(outcome="conflict")) != 0:
                problems.append(f"the {region} agency answered {n} conflicts")
        assert not problems, self.explain(c, "delivered-once check failed:\n" + "\n".join(problems))


@pytest.fixture(scope="session")
def harness() -> Harness:
    return Harness()


@pytest.fixture
def deployments(tmp_path: Path) -> Iterator[Callable[..., Cluster]]:
    """``deployments(mode, **kwargs)`` → a new :class:`Cluster` under tmp_path, closed at the
    end of the test (roles and sandboxes killed, its PostgreSQL database dropped)."""
    opened: list[Cluster] = []

    def open_cluster(mode: str, **kwargs: Any) -> Cluster:
        root = tmp_path / f"cluster{len(opened)}"
        try:
            kwargs.setdefault("reconcile", False)  # delivery alone: a case stays delivered
            c = Cluster(root, mode, **kwargs)  # type: ignore[arg-type]
        except Exception as exc:  # noqa: BLE001 - an unreachable server is a failure
            pytest.fail(f"cannot set up a {mode} cluster: {type(exc).__name__}: {exc}")
        opened.append(c)
        return c

    try:
        yield open_cluster
    finally:
        for c in reversed(opened):
            c.close()
