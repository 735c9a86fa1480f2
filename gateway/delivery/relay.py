"""The relay and the sweep: how due outbox rows reach the broker, and come back when lost.

``publish(outbox_id)`` hands one row to the broker (``gateway.tasks`` publishes a Celery task
whose id is the outbox id). A publish that is lost — broker down or purged, relay killed
after its commit — only delays: ``due`` marks rows published until ``relay_until``, after which
they are due again, and the sweep takes back rows whose worker died holding a lease.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from collections.abc import Callable

from gateway.delivery.runtime import Runtime
from gateway.outbox import due, expire_leases
from gateway.store import transaction

log = logging.getLogger(__name__)

Publish = Callable[[str], None]

#: a published row is published again if it is still pending this long after (lost publish)
REPUBLISH_AFTER = 30.0


#: rows one relay pass publishes at most; a full pass is followed by another at once
RELAY_BATCH = 200


def relay_once(runtime: Runtime, publish: Publish, *, limit: int = RELAY_BATCH) -> int:
    """Publish the rows due now; return how many."""
    now = dt.datetime.now(dt.UTC)
    with transaction(runtime.sessions) as session:
        ids = due(session, now=now, limit=limit, republish_after=REPUBLISH_AFTER)
    published = 0
    for outbox_id in ids:
        try:
            publish(outbox_id)
            published += 1
        except Exception as exc:  # noqa: BLE001 - broker down: the rows come due again
            log.warning("publish of %s failed (%s); it will be published again", outbox_id, exc)
            break
    return published


def sweep_once(runtime: Runtime, publish: Publish) -> int:
    """Take back expired leases, then publish what is due; return rows published."""
    now = dt.datetime.now(dt.UTC)
    with transaction(runtime.sessions) as session:
        # a row whose every worker died goes dead after its destination's attempts
        taken = expire_leases(session, now=now, policy=runtime.retry_policy)
    if taken:
        log.info("sweep took back %d deliveries whose worker vanished", len(taken))
    return relay_once(runtime, publish)


def run_relay(
    runtime: Runtime, publish: Publish, stop: threading.Event, *, sweep_every: float | None = None
) -> None:
    """Relay until ``stop`` is set; with ``sweep_every``, also sweep (the embedded mode).

    A pass that published a full batch is followed by another at once (more may be due);
    any other waits ``relay_interval``. Looking again at once after every publish made a
    busy relay spin on batches of one or two rows, four statements a look: about a tenth
    of the CPU of a delivery.
    """
    interval = runtime.settings.relay_interval
    next_sweep = 0.0
    while not stop.is_set():
        try:
            if sweep_every is not None and time.monotonic() >= next_sweep:
                sweep_once(runtime, publish)
                next_sweep = time.monotonic() + sweep_every
            more = relay_once(runtime, publish) >= RELAY_BATCH
        except Exception:  # noqa: BLE001 - database blip: log, wait, go on
            log.exception("relay pass failed")
            more = False
        if not more:
            stop.wait(interval)
