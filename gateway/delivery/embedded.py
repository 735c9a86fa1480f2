"""The embedded gateway: worker, relay and sweep in one process, sandboxes on loopback.

The gateway's HTTP service (``gateway.api``: agency push receivers) is served in-process on
127.0.0.1 (``GBAGW_API_PORT``, else a free port) before the sandboxes start, and the sandbox of
every region with a push receiver pushes its status notices there.

What ``gbagw run`` and ``./dev demo`` start: SQLite, Celery's in-process broker and a worker
on threads — the same task code as the production roles. Agencies whose directory URL is
``sandbox:<REGION>`` are served by that region's sandbox agency on 127.0.0.1 (found through
the ``gba_gateway.sandboxes`` entry points); their own SQLite files under ``var/`` keep what
they received across restarts, so a restarted gateway meets agencies that remember.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import os
import socket
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

from celery.worker import WorkController

from gateway import tasks
from gateway.agencies.directory import AgencyDirectory
from gateway.api.app import create_app
from gateway.config import Settings
from gateway.delivery.relay import run_relay
from gateway.delivery.runtime import Runtime
from gateway.reconcile.poll import poll_due
from gateway.registry import sandbox_factory
from gateway.serve import serving
from gateway.store.clients import sandbox_push_tokens
from gateway.store.db import transaction
from gateway.supplements.overdue import check_overdue
from signing import KeyDirectory

log = logging.getLogger(__name__)


@contextlib.contextmanager
def sandboxes(
    directory: AgencyDirectory,
    keys: Path,
    var: Path,
    faults: dict[str, dict] | None = None,
    *,
    push_urls: dict[str, str] | None = None,
    push_tokens: dict[str, str] | None = None,
) -> Iterator[dict[str, str]]:
    """Serve every region named by a ``sandbox:`` URL; yield region → base URL.

    ``push_urls``: region → the gateway's push receiver for it (the regions with a receiver
    installed); that region's sandbox pushes its status notices there, each agency presenting
    its bearer token from ``push_tokens`` (agency code → token)."""
    regions = sorted({a.sandbox_region for a in directory if a.sandbox_region})
    push_urls, tokens = push_urls or {}, push_tokens or {}
    with contextlib.ExitStack() as stack:
        urls = {}
        for region in regions:
            config = {
                "region": region,
                "keys_dir": keys,
                "database": var / f"sandbox-{region.lower()}.db",
                **({"faults": faults[region]} if faults and region in faults else {}),
                **({"push_url": push_urls[region]} if region in push_urls else {}),
                "push_tokens": {
                    a.code: tokens[a.code]
                    for a in directory
                    if a.sandbox_region == region and a.code in tokens
                },
            }
            urls[region] = stack.enter_context(serving(sandbox_factory(region)(config)))
        yield urls


@contextlib.contextmanager
def embedded(config: Settings, *, var: Path = Path("var")) -> Iterator[Runtime]:
    """Run worker, relay and sweep (and sandboxes) in this process until the block ends."""
    var.mkdir(parents=True, exist_ok=True)
    keys = KeyDirectory(config.keys)
    if not keys.trust_file.exists():
        keys.init()
    directory = AgencyDirectory.load(config.agencies)
    runtime = Runtime(config)  # its agency directory is known once the sandboxes run (below)
    api = create_app(runtime)
    with contextlib.ExitStack() as stack:  # the api first: the sandboxes push to it
        api_url = stack.enter_context(serving(api, config.api_port or None))
        push_urls = {region: api_url + path for region, path in api.state.push_paths.items()}
        runtime.engine  # noqa: B018 - upgrade the schema before any thread touches it
        with transaction(runtime.sessions) as session:  # this run's sandboxes push as agencies
            tokens = sandbox_push_tokens(session, [a.code for a in directory if a.sandbox_region])
        urls = stack.enter_context(
            sandboxes(directory, config.keys, var, push_urls=push_urls, push_tokens=tokens)
        )
        runtime._directory = directory.with_sandboxes(urls)  # before anything reads it
        tasks.use_runtime(runtime)
        _forget_publishes(runtime)
        stop = threading.Event()
        worker = WorkController(
            app=tasks.app,
            pool_cls="threads",
            concurrency=config.worker_concurrency,
            without_mingle=True,
            without_gossip=True,
            without_heartbeat=True,
            queues=[tasks.queue_name(config)],
            loglevel="WARNING",
        )
        threads = [
            threading.Thread(target=worker.start, name="gbagw-worker", daemon=True),
            threading.Thread(
                target=run_relay,
                args=(runtime, tasks.publish, stop),
                kwargs={"sweep_every": config.sweep_interval},
                name="gbagw-relay",
                daemon=True,
            ),
            # what beat schedules in production: polls of open cases, overdue checks
            _periodic(stop, config.poll_interval, lambda: poll_due(runtime), "gbagw-poll"),
            _periodic(
                stop, config.overdue_interval, lambda: check_overdue(runtime), "gbagw-overdue"
            ),
        ]
        for thread in threads:
            thread.start()
        late = _TaskArrivingAtStop(stop)
        logging.getLogger("celery.worker.worker").addFilter(late)
        try:
            yield runtime
        finally:
            stop.set()
            worker.stop(in_sighandler=False)
            for thread in threads:
                thread.join(timeout=10)
            tasks.use_runtime(None)
            runtime.close()
            logging.getLogger("celery.worker.worker").removeFilter(late)


class _TaskArrivingAtStop(logging.Filter):
    """The worker's thread pool stops while its consumer hands it one more task: Celery logs
    an "Unrecoverable error" with a traceback (``cannot schedule new futures after
    shutdown``). Stopping, that is expected and loses nothing: the task's outbox row is still
    due and the sweep publishes it again. Said in one line instead."""

    def __init__(self, stopping: threading.Event):
        super().__init__()
        self.stopping = stopping

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        if self.stopping.is_set() and isinstance(error, RuntimeError) and "shutdown" in str(error):
            log.info("worker stopped as a task arrived; it stays due and will be sent again")
            return False
        return True


def _periodic(
    stop: threading.Event, interval: float, job: Callable[[], object], name: str
) -> threading.Thread:
    """A thread running ``job`` every ``interval`` seconds until ``stop``; a failing run is
    logged and the next one still happens (as with beat)."""

    def loop() -> None:
        while not stop.wait(interval):
            try:
                job()
            except Exception:  # noqa: BLE001 - one bad run must not end the schedule
                log.exception("%s failed", name)

    return threading.Thread(target=loop, name=name, daemon=True)


def _forget_publishes(runtime: Runtime) -> None:
    """This process's broker starts empty: what an earlier run published to its in-process
    broker died with it, so every pending row is due for publishing now, not after the
    relay's republish delay. (Only the embedded mode owns its broker; a production relay
    never does this.)"""
    from sqlalchemy import select, update

    from gateway.outbox import expire_leases
    from gateway.store import transaction
    from gateway.store.tables import Outbox
    from gateway.store.vocab import OutboxState

    now = dt.datetime.now(dt.UTC)
    with transaction(runtime.sessions) as session:
        session.execute(
            update(Outbox).where(Outbox.state == OutboxState.PENDING).values(relay_until=None)
        )
        # leases held by a process of this machine that no longer runs: take them back now
        dead = [
            owner
            for owner in session.scalars(
                select(Outbox.lease_owner).where(Outbox.state == OutboxState.SENDING).distinct()
            )
            if owner and _gone(owner)
        ]
        if dead:
            session.execute(
                update(Outbox)
                .where(Outbox.state == OutboxState.SENDING, Outbox.lease_owner.in_(dead))
                .values(lease_expires_at=now)
            )
            expire_leases(session, now=now, policy=runtime.retry_policy)


def _gone(owner: str) -> bool:
    """A ``host:pid`` lease owner of this host whose process has ended."""
    host, _, pid = owner.rpartition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False
