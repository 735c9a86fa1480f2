"""Open disagreements of a filed case, ready to record for ``gbagw text review``.

A case's text pairs say which texts the primary engine decided alone (``zhconv-rs`` in
``decided_by``); only those are converted again to find the spans, so a case without open
disagreements costs nothing here. What is kept is the field path and the disagreeing
characters; a few characters of context only for fields that hold no personal data (names,
identity numbers, phones, addresses and the like never leave the case).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol

from gateway.text.convert import PRIMARY, Region, convert_decided

#: characters of context kept either side of a span (non-personal fields only)
CONTEXT = 4

#: words in a field path that mark personal data: the field's text stays in the case
PERSONAL = frozenset(
    """name names address addresses addr line lines phone mobile tel telephone fax email mail
    id identity passport permit birth contact representative director investor shareholder
    partner agent applicant person holder owner guardian spouse""".split()
)
_WORDS = re.compile(r"[A-Z]?[a-z]+|[A-Z]+(?![a-z])")


class Pair(Protocol):
    """What filing keeps of each text (``gateway.domain.TextPair``)."""

    @property
    def path(self) -> str: ...
    @property
    def original(self) -> str: ...
    @property
    def decided_by(self) -> str | None: ...


@dataclass(frozen=True)
class Found:
    """One open disagreement: where (field path, offset), the Simplified characters, the form
    sent (primary engine) and the other engine's; ``context`` is None for personal fields."""

    path: str
    position: int
    source: str
    primary: str
    secondary: str
    context: str | None


def is_personal(path: str) -> bool:
    """True when a field path names personal data (``applicant.address.lines[0]``,
    ``form.legalRepresentative``, ``form.contactPhone``); an unknown field is not."""
    return any(w.lower() in PERSONAL for w in _WORDS.findall(path))


def open_disagreements(pairs: Iterable[Pair], region: Region) -> list[Found]:
    """The open disagreements of a case's converted texts, in text order."""
    flagged = [p for p in pairs if p.decided_by and PRIMARY in p.decided_by.split("+")]
    if not flagged:
        return []
    found = []
    converted = convert_decided([p.original for p in flagged], region)
    for pair, done in zip(flagged, converted, strict=True):
        personal = is_personal(pair.path)
        for d in done.open:
            start, end = max(0, d.position - CONTEXT), d.position + len(d.source) + CONTEXT
            context = None if personal else pair.original[start:end]
            found.append(Found(pair.path, d.position, d.source, d.primary, d.secondary, context))
    return found
