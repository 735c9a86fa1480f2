"""The notification event types and their JSON body (``docs/events.md`` is the contract).

The body is built once, stored as the message's bytes and resent unchanged on every attempt;
only the Standard Webhooks headers are computed per attempt. It names the case and never the
applicant: no names, identity numbers, phones or addresses.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

#: the webhook's destination name in the outbox (``outbox.destination``)
GUANGDONG = "guangdong"

PROGRESS = "case.progress"
SUPPLEMENT_REQUESTED = "case.supplement_requested"
RESULT = "case.result"
WITHDRAWN = "case.withdrawn"
OVERDUE = "case.overdue"
MATERIAL_OVERDUE = "material.overdue"
UNDELIVERABLE = "case.undeliverable"

TYPES = frozenset(
    {PROGRESS, SUPPLEMENT_REQUESTED, RESULT, WITHDRAWN, OVERDUE, MATERIAL_OVERDUE, UNDELIVERABLE}
)


def timestamp(moment: dt.datetime) -> str:
    """RFC 3339 in UTC with milliseconds: ``2026-03-02T01:00:00.000Z``."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return moment.astimezone(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def body(
    *,
    event_id: str,
    event_type: str,
    case_ref: str,
    application_no: str,
    seq: int,
    occurred_at: dt.datetime,
    data: dict[str, Any],
) -> bytes:
    """The event as compact UTF-8 JSON (Chinese unescaped), keys in the documented order."""
    if event_type not in TYPES:
        raise ValueError(f"unknown notification type {event_type!r}")
    document = {
        "id": event_id,
        "type": event_type,
        "caseRef": case_ref,
        "applicationNo": application_no,
        "seq": seq,
        "occurredAt": timestamp(occurred_at),
        "data": data,
    }
    return json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
