"""The bytes read_object_marked keeps let intake skip the per-string walk: never wrongly."""

from __future__ import annotations

import json

import pytest

from gateway.devkit.examples import bundled_examples
from gateway.intake.jsontext import MAX_DEPTH, read_object, read_object_marked
from gateway.intake.problems import ApplicationRejected
from gateway.intake.validator import Intake
from gateway.render.pipeline import Pipeline
from gateway.text.tables import INVISIBLE_LEADS, may_hold_invisible_or_noncharacter

BAD = [
    "a\x00b",
    "车\x07",
    "x\x7f",
    "\u0085",
    "陈\u200b伟",
    "\ufeff陈",
    "丰\uffff田",
    "丰\U0010ffff田",
]


def test_marks_are_the_asked_bytes_in_order() -> None:
    data = '{"a": ["（丰\\u0000田）", "\x7f"], "b": {"c": "\\\\"}}'.encode()
    obj, marks = read_object_marked(data, b"\\\x7f\xef")
    assert obj == read_object(data)
    assert marks == bytes(b for b in data if b in b"{[\\\x7f\xef")


def test_marks_count_brackets_towards_the_depth_limit() -> None:
    deep = ("[" * (MAX_DEPTH + 1) + "]" * (MAX_DEPTH + 1)).encode()
    with pytest.raises(ApplicationRejected, match="nested deeper"):
        read_object_marked(b'{"a": ' + deep + b"}", b"\\")
    # many marks but shallow: read as usual
    shallow = b'{"a": "' + "（）".encode() * 40 + b'"}'
    assert read_object_marked(shallow, b"\xef")[0] == read_object(shallow)


def test_leads_given_or_not_the_answer_is_the_same() -> None:
    keep = bytes(b for b in range(256) if b not in INVISIBLE_LEADS)
    for text in [*BAD, "“陈伟强”，丰田（K628913(4)）𠀋", "\u061c", "\ufdd0"]:
        data = f"陈{text}伟".encode()
        leads = data.translate(None, keep)
        assert may_hold_invisible_or_noncharacter(data, leads) == (
            may_hold_invisible_or_noncharacter(data)
        ), ascii(text)


@pytest.fixture(scope="module")
def intake() -> Intake:
    return Pipeline().intake


@pytest.mark.parametrize("bad", BAD, ids=ascii)
@pytest.mark.parametrize("ensure_ascii", [False, True], ids=["raw", "escaped"])
def test_bytes_with_a_control_or_invisible_character_are_refused_with_path(
    intake: Intake, bad: str, ensure_ascii: bool
) -> None:
    path = next(p for p in bundled_examples() if p.stem == "northbound-vehicle-hk")
    data = json.loads(path.read_text("utf-8"))
    data["form"]["vehicleBrand"] = bad
    body = json.dumps(data, ensure_ascii=ensure_ascii).encode()
    with pytest.raises(ApplicationRejected) as exc:
        intake.parse(body)
    assert "form.vehicleBrand" in {p.path for p in exc.value.problems}
    # the text form of the same document says the same
    with pytest.raises(ApplicationRejected) as as_text:
        intake.parse(body.decode())
    assert as_text.value.problems == exc.value.problems
