"""A sandbox Guangdong platform: receives the gateway's notifications, for tests and the demo.

``POST /webhooks/gateway`` verifies the Standard Webhooks signature with the shared secret
(``standardwebhooks``; any failure — missing or malformed headers, a timestamp outside five
minutes, a signature that does not match the body — is 400 and nothing is recorded), records
each event once by its id in a SQLite file (a repeat is counted, not recorded twice), notes
whether it arrived in order for its case (``seq`` one above the highest seen), and answers
204. ``GET /events`` lists what was recorded (``?caseRef=`` for one case), ``GET /stats`` the
request counts. Faults for tests: unavailable (503) for the first ``unavailable_seconds`` after
start or the first ``unavailable_requests`` requests.
"""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
import threading
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request, Response
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

PATH = "/webhooks/gateway"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
    arrival INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    type TEXT NOT NULL,
    case_ref TEXT NOT NULL,
    seq INTEGER NOT NULL,
    in_order INTEGER NOT NULL,
    body TEXT NOT NULL,
    received_at TEXT NOT NULL,
    repeats INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS ix_events_case ON events (case_ref, seq);
CREATE TABLE IF NOT EXISTS requests (
    n INTEGER PRIMARY KEY AUTOINCREMENT,
    event_id TEXT,
    status INTEGER NOT NULL,
    detail TEXT,
    at TEXT NOT NULL
);
"""


class ReceiverStore:
    """The receiver's SQLite file; safe to share between threads (one lock)."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        self._db.row_factory = sqlite3.Row
        self._lock = threading.Lock()
        with self._lock:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.executescript(_SCHEMA)

    def request(self, event_id: str | None, status: int, detail: str = "") -> None:
        with self._lock:
            self._db.execute(
                "INSERT INTO requests (event_id, status, detail, at) VALUES (?, ?, ?, ?)",
                (event_id, status, detail, _now()),
            )

    def record(self, event: dict[str, Any], body: str) -> bool:
        """Record ``event`` once by id; False when it was a repeat (counted)."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                seen = self._db.execute(
                    "UPDATE events SET repeats = repeats + 1 WHERE id = ?", (event["id"],)
                ).rowcount
                if not seen:
                    (highest,) = self._db.execute(
                        "SELECT COALESCE(MAX(seq), 0) FROM events WHERE case_ref = ?",
                        (event["caseRef"],),
                    ).fetchone()
                    self._db.execute(
                        "INSERT INTO events (id, type, case_ref, seq, in_order, body, received_at)"
                        " VALUES (?, ?, ?, ?, ?, ?, ?)",
                        (
                            event["id"],
                            event["type"],
                            event["caseRef"],
                            int(event["seq"]),
                            int(event["seq"]) == highest + 1,
                            body,
                            _now(),
                        ),
                    )
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
        return not seen

    def events(self, case_ref: str | None = None) -> list[dict[str, Any]]:
        """Recorded events in arrival order: ``event`` (the body), ``inOrder``, ``repeats``."""
        query = "SELECT * FROM events"
        params: tuple[str, ...] = ()
        if case_ref is not None:
            query += " WHERE case_ref = ?"
            params = (case_ref,)
        with self._lock:
            rows = self._db.execute(query + " ORDER BY arrival", params).fetchall()
        return [
            {
                "id": r["id"],
                "type": r["type"],
                "caseRef": r["case_ref"],
                "seq": r["seq"],
                "inOrder": bool(r["in_order"]),
                "repeats": r["repeats"],
                "receivedAt": r["received_at"],
                "event": json.loads(r["body"]),
            }
            for r in rows
        ]

    def stats(self) -> dict[str, int]:
        with self._lock:
            by_status = dict(
                self._db.execute("SELECT status, COUNT(*) FROM requests GROUP BY status").fetchall()
            )
            (events,) = self._db.execute("SELECT COUNT(*) FROM events").fetchone()
            (repeats,) = self._db.execute("SELECT COALESCE(SUM(repeats), 0) FROM events").fetchone()
            (out_of_order,) = self._db.execute(
                "SELECT COUNT(*) FROM events WHERE NOT in_order"
            ).fetchone()
        return {
            "requests": sum(by_status.values()),
            "accepted": by_status.get(204, 0),
            "refused": by_status.get(400, 0),
            "unavailable": by_status.get(503, 0),
            "events": events,
            "repeats": repeats,
            "outOfOrder": out_of_order,
        }

    def close(self) -> None:
        with self._lock:
            self._db.close()


def create_app(
    secret: str,
    database_path: str | Path,
    *,
    unavailable_seconds: float = 0.0,
    unavailable_requests: int = 0,
) -> FastAPI:
    """The receiver app; ``app.state.store`` is its :class:`ReceiverStore`."""
    verifier = Webhook(secret)
    store = ReceiverStore(database_path)
    started = time.monotonic()
    counter = {"requests": 0}
    counter_lock = threading.Lock()

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        store.close()

    app = FastAPI(title="Sandbox Guangdong platform (notification receiver)", lifespan=lifespan)
    app.state.store = store

    def unavailable() -> bool:
        with counter_lock:
            counter["requests"] += 1
            n = counter["requests"]
        return n <= unavailable_requests or time.monotonic() - started < unavailable_seconds

    @app.post(PATH)
    async def receive(request: Request) -> Response:
        if unavailable():
            store.request(request.headers.get("webhook-id"), 503, "unavailable (fault)")
            return Response(status_code=503, headers={"retry-after": "1"})
        raw = await request.body()
        event_id = request.headers.get("webhook-id")
        try:
            event = verifier.verify(raw, dict(request.headers))
            if not isinstance(event, dict) or event.get("id") != event_id:
                raise ValueError("the body's id is not the webhook-id")
            for key in ("type", "caseRef", "seq"):
                if key not in event:
                    raise ValueError(f"no {key}")
        except (WebhookVerificationError, ValueError, TypeError) as exc:
            store.request(event_id, 400, f"{type(exc).__name__}: {exc}")
            return Response(
                content=json.dumps({"error": f"not verified: {exc}"}),
                status_code=400,
                media_type="application/json",
            )
        new = store.record(event, raw.decode("utf-8"))
        store.request(event_id, 204, "new" if new else "repeat")
        return Response(status_code=204)

    @app.get("/events")
    def events(caseRef: str | None = None) -> list[dict[str, Any]]:  # noqa: N803 - wire name
        return store.events(caseRef)

    @app.get("/stats")
    def stats() -> dict[str, int]:
        return store.stats()

    return app


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
