"""The HK sandbox agency pushing to the gateway's real app with push authentication on, over
real HTTP: what it signs with a key registered nowhere reaches the store and is quarantined
(never applied, answered with a SIGNATURE Fault), even when its first attempts carried a
token that was no longer valid (a 401 stores nothing, so the agency must push again).

Real signatures (the session's development keys), the real sandbox app and the gateway's
real app, on SQLite and PostgreSQL (the ``db`` fixture).
"""

from __future__ import annotations

import datetime as dt
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from lxml import etree
from sqlalchemy import select

from adapters.hk import FORMAT
from adapters.hk.sandbox import create_app as create_sandbox
from gateway.api.app import create_app
from gateway.config import Settings
from gateway.delivery.runtime import Runtime
from gateway.domain import MessageHeader
from gateway.inbound.testing import case_state, file_case_for, recording_answers
from gateway.serve import serving
from gateway.store import transaction
from gateway.store.clients import Role, add_client, sandbox_push_tokens
from gateway.store.tables import Message
from gateway.store.testing import Backend
from signing import KeyDirectory
from signing.parties import GATEWAY_PARTY

PATH = "/cbce/v1/status-notices"
CASE = "GBA-00000000000000000B01"
AGENCY = "HK-TD"
#: the happy script: RECEIVED … COMPLETED, all due at once (step_seconds 0)
NOTICES = 5


class Answers:
    """ASGI wrapper recording the status and body of every answer to a push."""

    def __init__(self, app: Any):
        self.seen: list[tuple[int, bytes]] = []
        self._lock = threading.Lock()
        self.app = recording_answers(app, self._answered, PATH)

    def _answered(self, status: int, body: bytes) -> None:
        with self._lock:
            self.seen.append((status, body))

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        await self.app(scope, receive, send)

    def statuses(self) -> list[int]:
        with self._lock:
            return [status for status, _ in self.seen]

    def faults(self) -> list[str]:
        with self._lock:
            bodies = [body for status, body in self.seen if status == 400]
        return [FORMAT.parse_fault(etree.fromstring(body))[0] for body in bodies]


@pytest.fixture
def gateway(db: Backend, keys: KeyDirectory) -> Iterator[tuple[str, Answers]]:
    """The gateway's app with push authentication on (its base URL), CASE filed for HK-TD."""
    runtime = Runtime(Settings(database_url=db.url, keys=keys.path, api_push_auth=True))
    file_case_for(db.factory, CASE, AGENCY)
    answers = Answers(create_app(runtime))
    try:
        with serving(answers) as url:
            yield url, answers
    finally:
        runtime.close()


def wait_for(condition: Callable[[], bool], timeout: float = 20.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return condition()


def pushed(db: Backend) -> list[Message]:
    with transaction(db.factory, read_only=True) as session:
        rows = session.scalars(select(Message).where(Message.via == "push")).all()
        session.expunge_all()
    return list(rows)


def sandbox_config(keys: KeyDirectory, tmp_path: Path, push_url: str, token: str) -> dict[str, Any]:
    """The HK sandbox signing with a key registered nowhere, every step due at once."""
    return {
        "region": "HK",
        "keys_dir": keys.path,
        "database": tmp_path / "sandbox-hk.sqlite",
        "push_url": push_url,
        "push_tokens": {AGENCY: token},
        "faults": {"wrong_key": True},
    }


def test_wrong_key_notices_pushed_with_a_re_issued_token_are_all_quarantined(
    db: Backend, keys: KeyDirectory, gateway: tuple[str, Answers], tmp_path: Path
) -> None:
    url, answers = gateway
    push_url = url + PATH
    with transaction(db.factory) as session:  # the token the sandbox was configured with …
        stale = sandbox_push_tokens(session, [AGENCY], holder="test")[AGENCY]
    with transaction(db.factory) as session:  # … re-issued before it pushed
        fresh = sandbox_push_tokens(session, [AGENCY], holder="test")[AGENCY]

    first = create_sandbox(sandbox_config(keys, tmp_path, push_url, stale))
    with serving(first):
        sandbox = first.state.sandbox
        header = MessageHeader(
            message_id=str(uuid.uuid4()),
            case_ref=CASE,
            sent_at=dt.datetime.now(dt.UTC),
            sender=GATEWAY_PARTY,
            recipient=AGENCY,
        )
        sandbox.agency.submit(header, "fingerprint", "S1", sandbox.sign_receipt)
        assert wait_for(lambda: 401 in answers.statuses()), answers.statuses()
    assert pushed(db) == []  # a refused token: audited, nothing stored

    second = create_sandbox(sandbox_config(keys, tmp_path, push_url, fresh))
    with serving(second):  # the same agency restarted with its new token
        # answered: stored raw, then quarantined, before the Fault went out
        assert wait_for(lambda: answers.statuses().count(400) >= NOTICES), answers.statuses()
        notices = {second.state.sandbox.notice(e) for e in second.state.agency.events(CASE)}

    stored = pushed(db)
    assert len(notices) == NOTICES and {m.body for m in stored} == notices
    for message in stored:
        assert not message.verified
        assert (message.quarantine_reason or "").startswith("SIGNATURE")
    assert case_state(db.factory, CASE) == ("filed", [])  # never applied
    assert answers.faults() == ["SIGNATURE"] * NOTICES
    assert set(answers.statuses()) == {401, 400}

    with transaction(db.factory) as session:  # what an operator lists
        _, token = add_client(session, "operator-1", Role("operator"))
    listed = httpx.get(
        f"{url}/v1/inbound",
        params={"quarantined": "true"},
        headers={"Authorization": f"Bearer {token}"},
        timeout=30,
    )
    assert listed.status_code == 200, listed.text
    rows = {row["id"]: row for row in listed.json()}
    assert {m.id for m in stored} <= set(rows)
    assert all(rows[m.id]["reason"].startswith("SIGNATURE") for m in stored)
    # and whose token pushed them, though no signature could say so
    assert {rows[m.id]["counterpart"] for m in stored} == {AGENCY}
