"""The embedded gateway: worker, relay and sweep in one process, sandboxes on loopback.

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
from collections.abc import Iterator
from pathlib import Path

from celery.worker import WorkController

from gateway import tasks
from gateway.agencies.directory import AgencyDirectory
from gateway.config import Settings
from gateway.delivery.relay import run_relay
from gateway.delivery.runtime import Runtime
from gateway.registry import sandbox_factory
from gateway.serve import serving
from signing import KeyDirectory

log = logging.getLogger(__name__)


@contextlib.contextmanager
def sandboxes(
    directory: AgencyDirectory, keys: Path, var: Path, faults: dict[str, dict] | None = None
) -> Iterator[dict[str, str]]:
    """Serve every region named by a ``sandbox:`` URL; yield region → base URL."""
    regions = sorted({a.sandbox_region for a in directory if a.sandbox_region})
    with contextlib.ExitStack() as stack:
        urls = {}
        for region in regions:
            config = {
                "region": region,
                "keys_dir": keys,
                "database": var / f"sandbox-{region.lower()}.db",
                **({"faults": faults[region]} if faults and region in faults else {}),
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
    with sandboxes(directory, config.keys, var) as urls:
        runtime = Runtime(config, directory.with_sandboxes(urls))
        tasks.use_runtime(runtime)
        runtime.engine  # noqa: B018 - upgrade the schema before any thread touches it
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
        ]
        for thread in threads:
            thread.start()
        try:
            yield runtime
        finally:
            stop.set()
            worker.stop(in_sighandler=False)
            for thread in threads:
                thread.join(timeout=10)
            tasks.use_runtime(None)
            runtime.close()


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
            expire_leases(session, now=now)


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
