"""Read sender, message id and send time from the *signed* element, by HeaderSpec paths.

The paths are ElementPath strings (``{ns}Header/{ns}Sender``). In the common case — plain
child steps under one header element — the header is found once and its children read in one
pass (three ``findall`` calls were a fifth of the verifier's own cost); anything fancier falls
back to ``findall``. Exactly one element with non-empty text is required: a duplicated
``Sender`` would leave "who sent this?" to whichever reader looks first.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache

from lxml import etree

from signing.errors import MalformedDocument


@dataclass(frozen=True)
class HeaderSpec:
    """Where a signed document of this format names its sender, message id and send time.

    Paths are ElementPath expressions relative to the document root (``{ns}Header/{ns}Sender``).
    Each agency format declares one; ``signing/`` reads the *signed* header by it and knows no
    agency format itself.
    """

    sender: str
    message_id: str
    sent_at: str


_STEP = re.compile(r"(?:\{[^{}]*\})?[A-Za-z_][\w.\-]*")


def read_header(signed: etree._Element, spec: HeaderSpec) -> tuple[str, str, datetime]:
    """``(sender, message_id, sent_at)``; raise :class:`MalformedDocument` when unusable."""
    plan = _shared_parent(spec)
    if plan is None:
        sender = header_text(signed, spec.sender, "sender")
        message_id = header_text(signed, spec.message_id, "message id")
        sent_at = header_text(signed, spec.sent_at, "send time")
        return sender, message_id, parse_datetime(sent_at)
    parent_steps, tags = plan
    parents = _walk(signed, parent_steps)
    if len(parents) != 1:
        raise MalformedDocument(f"the signed document must have exactly one {parent_steps[-1]}")
    found: dict[str, list[etree._Element]] = {tag: [] for tag in tags}
    for child in parents[0]:  # one pass over the header's children for all three fields
        matches = found.get(child.tag)
        if matches is not None:
            matches.append(child)
    paths = (spec.sender, spec.message_id, spec.sent_at)
    names = ("sender", "message id", "send time")
    sender, message_id, sent_at = (
        _text(found[tag], path, what) for tag, path, what in zip(tags, paths, names, strict=True)
    )
    return sender, message_id, parse_datetime(sent_at)


def header_text(signed: etree._Element, path: str, what: str) -> str:
    steps = _simple_steps(path)
    found = signed.findall(path) if steps is None else _walk(signed, steps)
    return _text(found, path, what)


def _walk(element: etree._Element, steps: tuple[str, ...]) -> list[etree._Element]:
    found = [element]
    for step in steps:
        found = [child for parent in found for child in parent.iterchildren(step)]
    return found


def _text(found: list[etree._Element], path: str, what: str) -> str:
    if len(found) != 1:
        raise MalformedDocument(f"the signed header must have exactly one {what} ({path})")
    element = found[0]
    text = (element.text or "").strip()
    if len(element) or not text:
        raise MalformedDocument(f"the signed {what} ({path}) must be non-empty text")
    return text


def parse_datetime(text: str) -> datetime:
    """An xs:dateTime that must carry a UTC offset (the specs require ``+08:00``)."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise MalformedDocument(f"send time {text!r} is not an xs:dateTime") from None
    if moment.tzinfo is None:
        raise MalformedDocument(f"send time {text!r} has no UTC offset")
    return moment


@lru_cache(maxsize=16)
def _shared_parent(spec: HeaderSpec) -> tuple[tuple[str, ...], tuple[str, str, str]] | None:
    """When the three paths are plain steps under one parent: (parent steps, leaf tags)."""
    split = [_simple_steps(path) for path in (spec.sender, spec.message_id, spec.sent_at)]
    if any(steps is None or len(steps) < 2 for steps in split):
        return None
    parents = {steps[:-1] for steps in split if steps}
    leaves = tuple(steps[-1] for steps in split if steps)
    if len(parents) != 1 or len(set(leaves)) != 3:
        return None
    return parents.pop(), (leaves[0], leaves[1], leaves[2])


@lru_cache(maxsize=64)
def _simple_steps(path: str) -> tuple[str, ...] | None:
    """``('{ns}Header', '{ns}Sender')`` for a path of plain child steps, else None."""
    steps: list[str] = []
    position = 0
    while position < len(path):
        match = _STEP.match(path, position)
        if match is None:
            return None
        steps.append(match.group())
        position = match.end()
        if position < len(path):
            if path[position] != "/":
                return None
            position += 1
            if position == len(path):
                return None
    return tuple(steps) if steps else None
