"""gateway.intake.jsontext: the JSON text is refused, saying why, before any field is read."""

from __future__ import annotations

import time

import pytest

from gateway.devkit.examples import bundled_examples
from gateway.intake.jsontext import MAX_APPLICATION_BYTES, MAX_DEPTH, read_object
from gateway.intake.problems import ApplicationRejected


def refusal(data: bytes | str) -> dict[str, str]:
    with pytest.raises(ApplicationRejected) as exc:
        read_object(data)
    return {p.path: p.message for p in exc.value.problems}


def example_bytes(name: str = "northbound-vehicle-hk") -> bytes:
    return next(p for p in bundled_examples() if p.stem == name).read_bytes()


@pytest.mark.parametrize("bom", [b"\xef\xbb\xbf", "\ufeff"])
def test_byte_order_mark(bom: bytes | str) -> None:
    data = example_bytes()
    data_with_bom = bom + (data if isinstance(bom, bytes) else data.decode())
    assert refusal(data_with_bom) == {"": "starts with a byte-order mark: send UTF-8 without BOM"}


@pytest.mark.parametrize("opening", [b"[", b'{"a":'])
def test_ten_thousand_levels_refused_quickly(opening: bytes) -> None:
    closing = b"]" if opening == b"[" else b"}"
    data = opening * 10_000 + b"1" * (opening != b"[") + closing * 10_000
    start = time.perf_counter()
    assert refusal(data) == {"": f"nested deeper than {MAX_DEPTH} levels"}
    assert time.perf_counter() - start < 0.5


def test_depth_limit_is_exact() -> None:
    def nested(levels: int) -> bytes:  # one object, then arrays
        return b'{"a":' + b"[" * (levels - 1) + b"]" * (levels - 1) + b"}"

    assert "a" in read_object(nested(MAX_DEPTH))
    assert "nested deeper" in refusal(nested(MAX_DEPTH + 1))[""]


def test_brackets_inside_strings_do_not_count_as_nesting() -> None:
    brackets = "[{" * 100 + '\\"]' * 10
    assert read_object(f'{{"note": "{brackets}"}}'.encode())["note"].startswith("[{[{")


def test_duplicate_key_named_by_path() -> None:
    data = b'{"applicant": {"idNumber": "X000000(0)", "idNumber": "K628913(4)"}}'
    assert refusal(data) == {"applicant.idNumber": "duplicate key"}


def test_duplicate_keys_at_any_depth_and_in_arrays_all_reported() -> None:
    data = (
        b'{"itemCode": "A", "materials": [{}, {}, {"code": "M01", "code": "M02"}],'
        b' "form": {"x": {"y": [{"z": 1, "z": 2}]}}, "itemCode": "B"}'
    )
    assert refusal(data) == {
        "itemCode": "duplicate key",
        "materials[2].code": "duplicate key",
        "form.x.y[0].z": "duplicate key",
    }


def test_same_key_in_different_objects_is_fine() -> None:
    assert read_object(b'{"a": {"code": 1}, "b": {"code": 1}}') == {
        "a": {"code": 1},
        "b": {"code": 1},
    }


@pytest.mark.parametrize("constant", ["NaN", "Infinity", "-Infinity"])
def test_non_json_numbers_refused(constant: str) -> None:
    assert "is not a JSON number" in refusal(f'{{"a": {constant}}}'.encode())[""]


def test_not_utf8() -> None:
    assert refusal(b'{"a": "\xff"}')[""].startswith("not valid UTF-8")


def test_not_json_and_not_an_object() -> None:
    assert refusal(b"{not json")[""].startswith("not valid JSON")
    assert refusal(b"[]") == {"": "an application must be a JSON object"}


def test_size_limit() -> None:
    padding = b" " * (MAX_APPLICATION_BYTES - 2)
    assert read_object(b"{" + padding + b"}") == {}
    assert "larger than" in refusal(b"{" + padding + b" }")[""]
