"""One delivery attempt: claim the row, send the stored bytes, record the outcome.

Three short steps, the agency call outside any transaction: a slow agency holds a worker
thread, never a database lock. A duplicate run (broker redelivery, sweep republish) finds the
row leased or final and does nothing; a run whose lease was taken over has its record ignored.

Notifications (kind ``notification``) go the same way to Guangdong's webhook
(:mod:`gateway.notify.webhook`), with the webhook's own policy; while no webhook is configured
they are not claimed and stay pending (looked at again every :data:`UNCONFIGURED_RECHECK`).
"""

from __future__ import annotations

import datetime as dt
import logging
import threading

from gateway.delivery.runtime import Runtime
from gateway.notify import ordering, webhook
from gateway.outbox import Claim, ReceiptIn, claim, record
from gateway.ports import DeliveryResult, Outcome
from gateway.store import transaction
from gateway.store.tables import Outbox
from gateway.store.vocab import OutboxKind, OutboxState

log = logging.getLogger(__name__)

#: how long a notification waits, unclaimed, before it is looked at again without a webhook
UNCONFIGURED_RECHECK = dt.timedelta(seconds=60)


def deliver(runtime: Runtime, outbox_id: str) -> str | None:
    """Attempt one outbox row; return its new state, or None when this run had nothing to do."""
    now = dt.datetime.now(dt.UTC)
    with transaction(runtime.sessions) as session:  # one transaction: destination and lease
        leased = claim(
            session,
            outbox_id,
            worker=runtime.worker,
            lease_seconds=runtime.settings.lease_seconds,
            now=now,
            max_in_flight=lambda destination: runtime.destination(destination).concurrency,
            hold=None if runtime.webhook.ready else lambda row: _defer_notification(row, now),
        )
    if leased is None:
        return None
    destination = leased.destination
    policy = runtime.destination(destination)
    result = _send(runtime, leased)
    with transaction(runtime.sessions) as session:
        finished = dt.datetime.now(dt.UTC)
        state = record(
            session,
            leased,
            result.outcome.value,
            receipt=_receipt(result),
            detail=result.detail,
            fault_code=result.fault_code,
            now=finished,
            policy=policy.retry,
            breaker_policy=policy.breaker,
        )
        if state == OutboxState.DELIVERED and leased.kind == OutboxKind.NOTIFICATION:
            ordering.wake_next(session, leased.outbox_id, finished)
    log.info(
        "delivery %s to %s attempt %d: %s → %s",
        outbox_id,
        destination,
        leased.attempt,
        result.outcome.value,
        state,
    )
    return state


def _defer_notification(row: Outbox, now: dt.datetime) -> bool:
    """No webhook configured: a pending notification is left pending (not claimed, no attempt
    counted) and due again later; True when the locked ``row`` was one."""
    if row.kind != OutboxKind.NOTIFICATION:
        return False
    if row.state == OutboxState.PENDING:
        row.next_attempt_at = now + UNCONFIGURED_RECHECK
        row.relay_until = None
        row.updated_at = now
    # said once per process: every held notification repeating it would bury the log
    level = logging.DEBUG if _UNCONFIGURED_SAID.is_set() else logging.WARNING
    _UNCONFIGURED_SAID.set()
    log.log(
        level,
        "notifications held (pending, visible in `gbagw outbox list`): no webhook configured"
        " (GBAGW_NOTIFY_URL); %s is one",
        row.id,
    )
    return True


_UNCONFIGURED_SAID = threading.Event()


def _send(runtime: Runtime, leased: Claim) -> DeliveryResult:
    if leased.unreadable is not None:
        # not the agency's fault: counted and backed off like a failed call (dead after the
        # policy's attempts, redrivable once the key is back), the reason on the row
        log.error("delivery %s not sent: %s", leased.outbox_id, leased.unreadable)
        return DeliveryResult(
            Outcome.RETRYABLE,
            detail=f"not sent: this gateway process cannot read the stored document"
            f" ({leased.unreadable})",
        )
    try:
        if leased.kind == OutboxKind.NOTIFICATION:
            hook = runtime.webhook
            assert hook.secret is not None  # checked before the claim (ready)
            return webhook.send(
                runtime.webhook_client, hook.url, hook.secret, leased.message_id, leased.document
            )
        client = runtime.client(leased.destination)
        if leased.kind == OutboxKind.SUPPLEMENT:
            return client.send_supplement(leased.case_ref or "", leased.document)
        return client.submit(leased.document)
    except Exception as exc:  # noqa: BLE001 - a bug here must become a visible outcome
        log.exception("delivery %s: unexpected error", leased.outbox_id)
        return DeliveryResult(Outcome.RETRYABLE, detail=f"gateway error: {type(exc).__name__}")


def _receipt(result: DeliveryResult) -> ReceiptIn | None:
    receipt = result.receipt
    if receipt is None or result.outcome not in (Outcome.DELIVERED, Outcome.DUPLICATE):
        return None
    return ReceiptIn(
        message_id=receipt.header.message_id,
        agency_case_ref=receipt.agency_case_ref,
        received_at=receipt.received_at,
        document=result.document,
        sender=receipt.header.sender,
    )
