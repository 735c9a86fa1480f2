"""The JSON text of an application, read strictly before anyone looks at a field.

Refused here, each with a message that says what to fix: more than 1 MB, a UTF-8 byte-order
mark, bytes that are not UTF-8, nesting deeper than any application needs, text that is not
JSON, a repeated object key (named by its path), NaN/Infinity, and anything but an object.

A repeated key matters: JSON parsers keep the last one silently, so
``"idNumber": "X000000(0)", "idNumber": "K628913(4)"`` would be read as whatever the last
writer meant, and another system reading the same text may keep the first.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Iterator
from typing import Any

import jiter

from gateway.intake.problems import ApplicationRejected, Problem, json_path

MAX_APPLICATION_BYTES = 1_000_000
# An application is at most 4 levels deep (applicant.address.lines[0]); 32 leaves room and
# keeps every recursive walk far below Python's recursion limit.
MAX_DEPTH = 32

_UTF8_BOM = b"\xef\xbb\xbf"
_NOT_OPENING = bytes(b for b in range(256) if b not in b"{[")
_STRING_OR_BRACKET = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"|[\[\]{}]')


class _RepeatedKey(Exception):
    """Raised from inside the parse; not a ValueError, so it is not mistaken for bad syntax."""


def _refuse_repeats(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj = dict(pairs)
    if len(obj) != len(pairs):
        raise _RepeatedKey
    return obj


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


# The slow path, for refused documents only (jiter, measured on the bundled examples beside
# this decoder: 34 µs against 56 µs under the same load). Built once: json.loads(...,
# object_pairs_hook=) builds a decoder per call.
_STRICT = json.JSONDecoder(object_pairs_hook=_refuse_repeats, parse_constant=_refuse_constant)


def _rejected(message: str) -> ApplicationRejected:
    return ApplicationRejected([Problem("", message)])


def read_object(data: bytes | str) -> dict[str, Any]:
    """The application's top-level JSON object, or :class:`ApplicationRejected`."""
    obj = read_value(data)
    if not isinstance(obj, dict):
        raise _rejected("an application must be a JSON object")
    return obj


def read_object_marked(data: bytes | str, marks: bytes) -> tuple[dict[str, Any], bytes]:
    """:func:`read_object`, and every byte of ``marks`` the UTF-8 text holds (as often as it
    holds it, in order, brackets too): the pass that counts brackets keeps them as well, so a
    caller looking for rare bytes need not search the whole text for each."""
    obj, found = _read(data, _keeping(marks))
    if not isinstance(obj, dict):
        raise _rejected("an application must be a JSON object")
    return obj, found


def read_value(data: bytes | str) -> Any:
    """Any JSON value held to an application's rules (size, byte-order mark, UTF-8, depth,
    repeated keys, NaN), or :class:`ApplicationRejected` saying why."""
    return _read(data, _NOT_OPENING)[0]


@functools.cache
def _keeping(marks: bytes) -> bytes:
    """The delete table of a translate that keeps the opening brackets and ``marks``."""
    return bytes(b for b in _NOT_OPENING if b not in marks)


def _read(data: bytes | str, delete: bytes) -> tuple[Any, bytes]:
    raw = data if isinstance(data, bytes) else data.encode("utf-8", "surrogatepass")
    if len(raw) > MAX_APPLICATION_BYTES:
        raise _rejected(f"application larger than {MAX_APPLICATION_BYTES} bytes")
    if raw.startswith(_UTF8_BOM):
        raise _rejected("starts with a byte-order mark: send UTF-8 without BOM")
    # Nesting cannot exceed the number of opening brackets, counted at C speed (one translate
    # pass deleting every other byte costs less than two bytes.count); an application has a
    # few dozen, so the token scan runs only on unusual documents.
    found = raw.translate(None, delete)
    if (
        len(found) > MAX_DEPTH
        and len(found.translate(None, _NOT_OPENING)) > MAX_DEPTH
        and _deeper_than(raw.decode("utf-8", "replace"), MAX_DEPTH)
    ):
        raise _rejected(f"nested deeper than {MAX_DEPTH} levels")
    try:
        # jiter (pydantic's parser) refuses a repeated key itself: one pass, no Python hook.
        # Keys only are cached: values are personal data and stay out of a global cache.
        obj = jiter.from_json(
            raw, allow_inf_nan=False, catch_duplicate_keys=True, cache_mode="keys"
        )
    except ValueError:
        # Refused: the stdlib parser says precisely why (UTF-8, NaN, which keys repeat).
        _explain(raw)
        raise _rejected("not valid JSON") from None
    return obj, found


def _explain(raw: bytes) -> None:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise _rejected(f"not valid UTF-8: {exc.reason} at byte {exc.start}") from None
    try:
        _STRICT.decode(text)
    except _RepeatedKey:
        raise ApplicationRejected(_repeated_keys(text)) from None
    except ValueError as exc:
        raise _rejected(f"not valid JSON: {exc}") from None


def _deeper_than(text: str, limit: int) -> bool:
    depth = 0
    for match in _STRING_OR_BRACKET.finditer(text):
        token = match[0]
        if token == "{" or token == "[":
            depth += 1
            if depth > limit:
                return True
        elif token == "}" or token == "]":
            depth -= 1
    return False


# --- naming the repeated keys: only for a document already refused, so speed does not matter --


class _Marked(dict[str, Any]):
    repeated: tuple[str, ...] = ()


def _mark_repeats(pairs: list[tuple[str, Any]]) -> _Marked:
    obj = _Marked(pairs)
    if len(obj) != len(pairs):
        keys = [k for k, _ in pairs]
        obj.repeated = tuple(k for k in obj if keys.count(k) > 1)
    return obj


def _repeated_keys(text: str) -> list[Problem]:
    decoder = json.JSONDecoder(object_pairs_hook=_mark_repeats, parse_constant=_refuse_constant)
    try:
        root = decoder.decode(text)  # the strict parse stopped at the first repeat: read on
    except ValueError as exc:
        return [Problem("", f"not valid JSON: {exc}")]
    return [Problem(json_path(loc), "duplicate key") for loc in _repeats_in(root, ())]


def _repeats_in(node: Any, loc: tuple[str | int, ...]) -> Iterator[tuple[str | int, ...]]:
    if isinstance(node, dict):
        for key in getattr(node, "repeated", ()):
            yield (*loc, key)
        for key, value in node.items():
            yield from _repeats_in(value, (*loc, key))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _repeats_in(value, (*loc, i))
