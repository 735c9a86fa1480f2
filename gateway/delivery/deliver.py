"""One delivery attempt: claim the row, send the stored bytes, record the outcome.

Three short steps, the agency call outside any transaction: a slow agency holds a worker
thread, never a database lock. A duplicate run (broker redelivery, sweep republish) finds the
row leased or final and does nothing; a run whose lease was taken over has its record ignored.
"""

from __future__ import annotations

import datetime as dt
import logging

from gateway.delivery.runtime import Runtime
from gateway.outbox import Claim, ReceiptIn, claim, record
from gateway.ports import DeliveryResult, Outcome
from gateway.store import transaction
from gateway.store.vocab import OutboxKind

log = logging.getLogger(__name__)


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
            max_in_flight=lambda destination: runtime.agency(destination).concurrency,
        )
    if leased is None:
        return None
    destination = leased.destination
    agency = runtime.agency(destination)
    result = _send(runtime, leased)
    with transaction(runtime.sessions) as session:
        state = record(
            session,
            leased,
            result.outcome.value,
            receipt=_receipt(result),
            detail=result.detail,
            fault_code=result.fault_code,
            now=dt.datetime.now(dt.UTC),
            policy=agency.retry,
            breaker_policy=agency.breaker,
        )
    log.info(
        "delivery %s to %s attempt %d: %s → %s",
        outbox_id,
        destination,
        leased.attempt,
        result.outcome.value,
        state,
    )
    return state


def _send(runtime: Runtime, leased: Claim) -> DeliveryResult:
    try:
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
