"""Sending one stored notification to Guangdong's webhook, signed per Standard Webhooks.

The body is the stored bytes, never rebuilt; ``webhook-id`` is the event id (the same on every
attempt, so the receiver drops a repeat), ``webhook-timestamp`` the attempt's time and
``webhook-signature`` ``v1,<base64 HMAC-SHA256 of "id.timestamp.body">`` under the shared
secret. The answer decides the outcome: 2xx delivered; 408, 429, 5xx and network faults
retryable; any other status permanent (the row goes dead, redrivable).
"""

from __future__ import annotations

import base64
import datetime as dt
import os
import secrets
from pathlib import Path

import httpx
from standardwebhooks.webhooks import Webhook

from gateway.ports import DeliveryResult, Outcome

SECRET_PREFIX = "whsec_"
RETRYABLE_STATUSES = frozenset({408, 429})


def secret_path(keys: Path) -> Path:
    """Where the development secret lives when ``GBAGW_NOTIFY_SECRET`` is unset."""
    return keys / "webhooks" / "guangdong.secret"


def new_secret() -> str:
    """A fresh ``whsec_`` secret: 32 random bytes, base64."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode("ascii")


def load_secret(configured: str, keys: Path, *, create: bool) -> str | None:
    """``configured`` if set; else the key directory's secret file, created (mode 0600) when
    ``create`` and missing; ``None`` when there is none."""
    if configured:
        Webhook(configured)  # refuse a malformed secret early (not base64, empty)
        return configured
    path = secret_path(keys)
    if path.exists():
        return path.read_text("ascii").strip() or None
    if not create:
        return None
    path.parent.mkdir(parents=True, exist_ok=True)
    secret = new_secret()
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process created it first: use theirs
        return path.read_text("ascii").strip() or None
    with os.fdopen(fd, "w", encoding="ascii") as handle:
        handle.write(secret + "\n")
    return secret


def headers(secret: str, event_id: str, body: bytes, moment: dt.datetime) -> dict[str, str]:
    """The three Standard Webhooks headers for one attempt (and the JSON content type)."""
    moment = moment.astimezone(dt.UTC).replace(microsecond=0)
    signature = Webhook(secret).sign(event_id, moment, body.decode("utf-8"))
    return {
        "content-type": "application/json; charset=utf-8",
        "webhook-id": event_id,
        "webhook-timestamp": str(int(moment.timestamp())),
        "webhook-signature": signature,
    }


def outcome_of(status: int) -> Outcome:
    if 200 <= status < 300:
        return Outcome.DELIVERED
    if status in RETRYABLE_STATUSES or status >= 500:
        return Outcome.RETRYABLE
    return Outcome.PERMANENT


def send(
    client: httpx.Client,
    url: str,
    secret: str,
    event_id: str,
    body: bytes,
    *,
    now: dt.datetime | None = None,
) -> DeliveryResult:
    """POST one notification; the outcome for the outbox (never raises for HTTP trouble)."""
    moment = now or dt.datetime.now(dt.UTC)
    try:
        response = client.post(url, content=body, headers=headers(secret, event_id, body, moment))
    except httpx.TimeoutException as exc:
        return DeliveryResult(Outcome.RETRYABLE, detail=f"webhook timeout: {type(exc).__name__}")
    except httpx.HTTPError as exc:
        return DeliveryResult(Outcome.RETRYABLE, detail=f"webhook unreachable: {exc}"[:500])
    outcome = outcome_of(response.status_code)
    detail = f"HTTP {response.status_code}"
    if outcome is not Outcome.DELIVERED and response.text:
        detail += f": {response.text[:300]}"
    fault = None if outcome is Outcome.DELIVERED else str(response.status_code)
    return DeliveryResult(outcome, detail=detail, fault_code=fault)
