"""Logs never carry an ID number, a phone number or a name the process has handled: every
record is masked as it is made, whichever logger, handler or formatter prints it."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from gateway.privacy.masking import install, mask, remember_names
from gateway.privacy.personal import names

EXAMPLES = sorted((Path(__file__).resolve().parents[3] / "gateway/data/examples").glob("*.json"))
PEOPLE = [
    person
    for path in EXAMPLES
    for role in ("applicant", "agent")
    if (person := json.loads(path.read_text("utf-8")).get(role))
]


@pytest.fixture
def captured() -> Iterator[io.StringIO]:
    """A handler of its own on a logger of its own: what any formatter would print."""
    install()
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
    logger = logging.getLogger("tests.privacy")
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    yield stream
    logger.removeHandler(handler)


@pytest.mark.parametrize("person", PEOPLE, ids=[p["idNumber"] for p in PEOPLE])
def test_every_example_id_number_and_phone_is_masked(person: dict) -> None:
    line = f"applicant {person['idNumber']} reachable on {person.get('mobile', '')} today"
    masked = mask(line)
    assert person["idNumber"] not in masked and "[id]" in masked
    if "mobile" in person:
        assert person["mobile"] not in masked and "[phone]" in masked
        digits = "".join(c for c in person["mobile"] if c.isdigit() or c == "+")
        assert mask(f"tel {digits}.") == "tel [phone]."


@pytest.mark.parametrize(
    "harmless",
    [
        "case GBA-4CBAE4F6319DFA633BBA message 54dac678-a382-466d-a9a9-738d58926013: new",
        "application GDZW-20250310-000101 item 11440000006939027K2440172041000 version 1",
        "delivery to HK-TD attempt 3 at 2026-03-02T09:15:27+08:00 took 1337626 bytes",
        "POST http://127.0.0.1:49407/cbce/v1/cases 202, VIN JTDKB20U603123456 plate AB1234",
    ],
)
def test_operational_identifiers_are_left_alone(harmless: str) -> None:
    assert mask(harmless) == harmless


def test_known_names_are_masked_in_every_written_form(captured: io.StringIO) -> None:
    application = json.loads(EXAMPLES[0].read_text("utf-8"))
    texts = [{"path": "applicant.name", "original": "刘嘉欣", "converted": "劉嘉欣"}]
    remember_names(names(application, texts))
    log = logging.getLogger("tests.privacy")
    log.info("filed for %s (%s), %s", "刘嘉欣", "劉嘉欣", "liu jiaxin")
    log.warning("agency says: %s", {"name": "JIAXIN LIU"})
    log.debug("sent <Surname>LIU</Surname><GivenName>JIAXIN</GivenName> to HK-TD")
    printed = captured.getvalue()
    assert "刘嘉欣" not in printed and "劉嘉欣" not in printed
    assert "jiaxin" not in printed.lower()
    assert printed.count("[name]") == 5
    assert mask("JIAXINGLY") == "JIAXINGLY"  # whole words only


def test_exception_text_and_arguments_are_masked(captured: io.StringIO) -> None:
    log = logging.getLogger("tests.privacy")
    try:
        raise ValueError("identity 440106199304182621 does not match +852 9123 4567")
    except ValueError:
        log.exception("filing %s failed", "K628913(4)")
    printed = captured.getvalue()
    for clear in ("440106199304182621", "+852 9123 4567", "K628913(4)"):
        assert clear not in printed
    assert "ValueError: identity [id] does not match [phone]" in printed
    assert "filing [id] failed" in printed


def test_a_record_without_personal_data_keeps_its_arguments() -> None:
    install()
    record = logging.getLogger("uvicorn.access").makeRecord(
        "uvicorn.access",
        logging.INFO,
        __file__,
        1,
        '%s - "%s %s" %d',
        ("127.0.0.1", "GET", "/healthz", 200),
        None,
    )
    assert record.args == ("127.0.0.1", "GET", "/healthz", 200)  # uvicorn formats them itself
