"""Hostile input over real HTTP: each is refused with a clear 4xx (or a timeout), the server's
memory stays bounded, it stays up, and nothing already stored changes.

Bodies that a well-behaved client library would not send (100 MB, a body trickled a byte a
second) go through a raw socket, so the test sees exactly what the server answers and when.
"""

from __future__ import annotations

import hashlib
import json
import select
import socket
import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
from lxml import etree
from sqlalchemy import func
from sqlalchemy import select as sql_select

from adapters.hk import FORMAT
from gateway.inbound.testing import case_state, file_case_for
from gateway.store import transaction
from gateway.store.tables import Case, Message
from gateway.store.testing import Backend
from signing import KeyDirectory
from tests.gateway.api.conftest import Api, probe_router, running_api

CASE = "GBA-00000000000000000C11"
NOTES = "/probe/cases/GBA-1/notes"
PUSH = "/cbce/v1/status-notices"
JSON_TYPE = {"content-type": "application/json"}
BODY_TIMEOUT = 2.0
MB = 1_000_000


@pytest.fixture
def api(db: Backend, keys: KeyDirectory) -> Iterator[Api]:
    with running_api(
        db, keys, routers=[probe_router()], api_body_timeout=BODY_TIMEOUT, api_rate=0
    ) as api:
        file_case_for(api.runtime.sessions, CASE, "HK-TD")
        yield api


def stored(api: Api) -> tuple[int, int, tuple[str, list[int]]]:
    """Cases, received documents, and the filed case's state with its agency events."""
    with transaction(api.runtime.sessions, read_only=True) as session:
        cases = session.scalar(sql_select(func.count()).select_from(Case))
        received = session.scalar(
            sql_select(func.count()).select_from(Message).where(Message.direction == "in")
        )
    return cases or 0, received or 0, case_state(api.runtime.sessions, CASE)


def refusal(response: httpx.Response, status: int) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    assert "Traceback" not in response.text
    return response.json()


def still_up(api: Api) -> None:
    assert api.anonymous.get("/healthz", timeout=5).status_code == 200


# --- JSON the intake's reader refuses ------------------------------------------------------------

SECRET = "K628913(4)"  # an ID number: a refusal never repeats what was sent


@pytest.mark.parametrize(
    ("body", "path", "message"),
    [
        (b"[" * 10_000 + b"]" * 10_000, "", "the body must be a JSON object"),
        (b'{"a":' * 10_000 + b"1" + b"}" * 10_000, "", "nested deeper than 32 levels"),
        (b'{"idNumber": "K628913(4)", "idNumber": "X1"}', "idNumber", "duplicate key"),
        ('{"name": "陈\x00大文"}'.encode(), "", "not valid JSON"),  # a raw NUL
        (b'{"note": "K628913(4)\\u0000"}', "note", "control character U+0000 at position 10"),
        (b'{"a\\u001bb": "K628913(4)"}', "", "a key: control character U+001B at position 1"),
        (b'{"note": "K628913(4) \xff\xfe"}', "", "not valid UTF-8"),
        (b'\xef\xbb\xbf{"note": "K628913(4)"}', "", "starts with a byte-order mark"),
        (b'"K628913(4)"', "", "the body must be a JSON object"),
        (b'{"note": NaN}', "", "not valid JSON"),
        ('{"name": "K628913(4)\u202e"}'.encode(), "name", "text-reordering character U+202E"),
        ('{"brand": "K628913(4)\uffff"}'.encode(), "brand", "Unicode noncharacter U+FFFF"),
    ],
    ids=[
        "10000-deep-array",
        "10000-deep-object",
        "duplicate-key",
        "raw-nul",
        "escaped-nul",
        "escape-in-key",
        "invalid-utf8",
        "bom",
        "not-an-object",
        "nan",
        "raw-bidi-override",
        "raw-noncharacter",
    ],
)
def test_hostile_json_is_400_naming_the_problem(
    api: Api, body: bytes, path: str, message: str
) -> None:
    before = stored(api)
    platform = api.as_("platform")
    started = time.monotonic()
    for route in (NOTES, "/v1/applications"):  # a test route and the real filing route
        answer = refusal(platform.post(route, content=body, headers=JSON_TYPE), 400)
        problem = answer["errors"][0] if answer["errors"] else {"path": "", "message": ""}
        assert message in answer["detail"] and problem["path"] == path, answer
        assert SECRET not in json.dumps(answer) and "陈" not in json.dumps(answer)
    assert time.monotonic() - started < 5  # refused at once, even 10,000 levels deep
    assert stored(api) == before
    still_up(api)


def test_a_large_body_is_checked_as_strictly(api: Api) -> None:
    """Bodies over the inline size are checked off the event loop, by the same rules."""
    body = b'{"pad": "' + b"x" * 300_000 + b'", "a": 1, "a": 2}'
    answer = refusal(api.as_("platform").post(NOTES, content=body, headers=JSON_TYPE), 400)
    assert answer["errors"] == [{"path": "a", "message": "duplicate key"}]
    assert b"x" * 100 not in json.dumps(answer).encode()


def test_an_untyped_body_that_looks_like_json_is_checked_as_json(api: Api) -> None:
    body = b'{"a": 1, "a": 2}'
    answer = refusal(api.as_("platform").post(NOTES, content=body), 400)
    assert answer["errors"] == [{"path": "a", "message": "duplicate key"}]


def test_a_body_of_another_media_type_is_415(api: Api) -> None:
    answer = refusal(
        api.as_("platform").post(NOTES, content=b"a=1", headers={"content-type": "text/plain"}),
        415,
    )
    assert answer["detail"] == "send application/json or application/xml, not 'text/plain'"


def test_well_formed_json_still_reaches_the_route(api: Api) -> None:
    body = {"note": "tab\tand\r\nline breaks are text", "nested": {"list": [1, {"x": None}]}}
    response = api.as_("platform").post(NOTES, json=body)
    assert response.status_code == 200, response.text
    assert response.json()["keys"] == ["nested", "note"]


# --- size, speed and memory, over a raw socket ----------------------------------------------------


@dataclass
class Answer:
    status: int
    body: bytes
    sent: int  # body bytes the client managed to send before the answer
    seconds: float


def exchange(url: str, head: bytes, chunks: Iterable[bytes], *, pause: float = 0.0) -> Answer:
    """Send ``head``, then ``chunks`` until the server answers (or closes); read the answer."""
    address = urlsplit(url)
    started = time.monotonic()
    sent = 0
    with socket.create_connection((address.hostname, address.port), timeout=30) as sock:
        sock.sendall(head)
        for chunk in chunks:
            readable, _, _ = select.select([sock], [], [], pause)
            if readable:  # answered (or closed) while we were still sending
                break
            try:
                sock.sendall(chunk)
            except (BrokenPipeError, ConnectionResetError):
                break
            sent += len(chunk)
        raw = b""
        try:
            while b"\r\n\r\n" not in raw or len(raw) < _expected(raw):
                data = sock.recv(65536)
                if not data:
                    break
                raw += data
        except ConnectionResetError:
            pass
    seconds = time.monotonic() - started
    head_part, _, body = raw.partition(b"\r\n\r\n")
    assert head_part, "no answer at all"
    return Answer(int(head_part.split()[1]), body, sent, seconds)


def _expected(raw: bytes) -> int:
    head, _, _ = raw.partition(b"\r\n\r\n")
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return len(head) + 4 + int(value)
    return len(raw)


def request_head(
    *, length: int | None, token: str, path: str = NOTES, media: str = "application/json"
) -> bytes:
    framing = f"Content-Length: {length}" if length is not None else "Transfer-Encoding: chunked"
    return (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {token}\r\n"
        f"Content-Type: {media}\r\n{framing}\r\n\r\n"
    ).encode()


def rss() -> int:
    """This process's resident memory (the server runs in it, on a thread), in bytes."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


class PeakMemory:
    """The highest RSS seen while the block runs, sampled every 10 ms."""

    def __enter__(self) -> PeakMemory:
        self.baseline = self.peak = rss()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def _sample(self) -> None:
        while not self._stop.wait(0.01):
            self.peak = max(self.peak, rss())

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.after = rss()


HUNDRED_MB = 100 * MB
CHUNK = b"x" * 65_536


def test_a_declared_100_mb_body_is_413_before_a_byte_is_read(api: Api) -> None:
    before = stored(api)
    with PeakMemory() as memory:
        answer = exchange(
            api.url,
            request_head(length=HUNDRED_MB, token=api.token("platform")),
            (CHUNK for _ in range(HUNDRED_MB // len(CHUNK))),
        )
    assert answer.status == 413
    assert json.loads(answer.body)["detail"] == "the body is larger than 2000000 bytes"
    assert answer.sent < 20 * MB and answer.seconds < 10  # answered at once, not after 100 MB
    assert memory.peak - memory.baseline < 50 * MB, memory.__dict__
    assert stored(api) == before
    still_up(api)


def test_a_streamed_100_mb_body_is_cut_at_the_limit_in_bounded_memory(api: Api) -> None:
    before = stored(api)
    frame = f"{len(CHUNK):x}\r\n".encode() + CHUNK + b"\r\n"
    with PeakMemory() as memory:
        answer = exchange(
            api.url,
            request_head(length=None, token=api.token("platform")),
            (frame for _ in range(HUNDRED_MB // len(CHUNK))),
        )
    assert answer.status == 413
    assert json.loads(answer.body)["detail"] == "the body is larger than 2000000 bytes"
    assert answer.sent < 30 * MB  # cut near the 2 MB limit (plus socket buffers)
    assert memory.peak - memory.baseline < 50 * MB, memory.__dict__
    assert stored(api) == before
    still_up(api)


def test_a_client_sending_one_byte_a_second_gets_408_and_others_are_served(api: Api) -> None:
    body = b'{"note": "slow"}'
    trickle = (body[i : i + 1] for i in range(len(body)))
    served: list[float] = []

    def meanwhile() -> None:
        time.sleep(0.5)
        started = time.monotonic()
        still_up(api)
        served.append(time.monotonic() - started)

    other = threading.Thread(target=meanwhile)
    other.start()
    answer = exchange(
        api.url, request_head(length=len(body), token=api.token("platform")), trickle, pause=1
    )
    other.join()
    assert answer.status == 408
    assert json.loads(answer.body)["detail"] == "the body did not arrive within 2 seconds"
    assert BODY_TIMEOUT <= answer.seconds < BODY_TIMEOUT + 3
    assert answer.sent < len(body)
    assert served and served[0] < 1.0  # the slow client held nobody else up
    still_up(api)


def test_a_content_length_that_is_not_a_number_is_400(api: Api) -> None:
    head = request_head(length=None, token="x").replace(
        b"Transfer-Encoding: chunked", b"Content-Length: 12abc"
    )
    answer = exchange(api.url, head, [])
    assert answer.status == 400  # uvicorn's parser or the guard: either way not a crash
    still_up(api)


# --- XML on the push route: the safe parser, behind the token ------------------------------------

XXE = (
    b'<?xml version="1.0"?><!DOCTYPE n [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
    b'<n xmlns="urn:hk-gov:cbce:1.0">&x;</n>'
)
LAUGHS = (
    b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
    + b"".join(
        f'<!ENTITY lol{i} "{f"&lol{i - 1};" * 10 if i > 1 else "&lol;" * 10}">'.encode()
        for i in range(1, 10)
    )
    + b"]><lolz>&lol9;</lolz>"
)
DEEP_XML = b"<a>" * 5_000 + b"</a>" * 5_000


@pytest.mark.parametrize("body", [XXE, LAUGHS, DEEP_XML], ids=["xxe", "billion-laughs", "deep"])
def test_hostile_xml_pushed_is_refused_kept_raw_and_changes_no_case(api: Api, body: bytes) -> None:
    cases, received, case = stored(api)
    started = time.monotonic()
    response = api.as_("agency:HK-TD").post(
        PUSH, content=body, headers={"content-type": "application/xml"}
    )
    assert response.status_code == 400, response.text
    assert FORMAT.parse_fault(etree.fromstring(response.content))[0] == "SCHEMA"
    assert b"root:" not in response.content and b"lollol" not in response.content
    assert time.monotonic() - started < 5
    # kept raw (nothing received is dropped), quarantined, and no case moved
    assert stored(api) == (cases, received + 1, case)
    with transaction(api.runtime.sessions, read_only=True) as session:
        digest = hashlib.sha256(body).hexdigest()
        message = session.scalars(sql_select(Message).where(Message.sha256 == digest)).one()
        assert not message.verified and message.quarantine_reason
    still_up(api)


def test_the_guard_sees_pushes_too(api: Api) -> None:
    """A 3 MB push is refused by the guard's limit, before HK's receiver reads anything."""
    before = stored(api)
    token = api.token("agency:HK-TD")
    head = request_head(length=3 * MB, token=token, path=PUSH, media="application/xml")
    answer = exchange(api.url, head, (CHUNK for _ in range(3 * MB // len(CHUNK) + 1)))
    assert answer.status == 413
    assert json.loads(answer.body)["detail"] == "the body is larger than 2000000 bytes"
    assert stored(api) == before  # not even stored raw: it was never read


def test_the_limits_are_settings(db: Backend, keys: KeyDirectory) -> None:
    with running_api(db, keys, routers=[probe_router()], api_max_body_bytes=100) as api:
        client = api.as_("platform")
        assert client.post(NOTES, json={"note": "x" * 50}).status_code == 200
        assert refusal(client.post(NOTES, json={"note": "x" * 200}), 413)["detail"] == (
            "the body is larger than 100 bytes"
        )
