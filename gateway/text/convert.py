"""Simplified ↔ Traditional Chinese for Hong Kong and Macao agencies, on top of OpenCC.

Guangdong files Simplified Chinese; agencies read Traditional. OpenCC's ``s2hk`` gives Hong Kong
character forms; on top of it this module adds what OpenCC cannot know (see
``gateway/data/text/``):

* a per-region glossary of official terms (``glossary-*.tsv``): the longest entry wins and its
  Traditional text is written as given;
* characters kept as written (``keep-chars.txt``): 涌 in Guangdong place names;
* character overrides applied to OpenCC's output (``overrides-*.tsv``): the Hong Kong
  glyph-standard forms outside Big5-HKSCS for both regions, and Macao's 衛 / 戶;
* protected spans: ASCII runs (codes, ID numbers, URLs, e-mail addresses, Latin text, digits)
  pass untouched.

Protected spans and glossary entries are replaced by a Private-Use-Area placeholder before
OpenCC runs and put back afterwards, so OpenCC never sees (nor re-converts) them. Personal
names are never converted as words: see :func:`convert_name`.

The caller keeps the original Simplified text; converting back (:func:`to_simplified`) is for
what agencies send, never a way to regenerate the original.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import opencc

Region = Literal["HK", "MO"]

DATA_DIR = Path(__file__).parents[1] / "data" / "text"

# One placeholder for every protected span (restored in order) and one field separator for
# batches. OpenCC leaves Private-Use-Area characters alone, and no dictionary entry contains
# them, so no word can be matched across a separator. Input that already contains either
# character is masked like any other protected span.
_PLACEHOLDER = "\ue000"
_SEPARATOR = "\ue001"

# C0 controls except TAB, LF, CR; DEL; C1 controls; lone surrogates. OpenCC truncates at NUL
# and raises on surrogates, so such text never reaches it.
_FORBIDDEN = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")
# Printable ASCII runs: codes, IDs, URLs, e-mail addresses, Latin words, digits.
_ASCII_RUN = r"[!-~]+"
_OWN_PUA = f"[{_PLACEHOLDER}{_SEPARATOR}]"


class TextRejected(ValueError):
    """Text that must not be converted (control characters, lone surrogates)."""


def check_text(s: str) -> str | None:
    """A human-readable problem with ``s``, or None when it may be converted."""
    m = _FORBIDDEN.search(s)
    if m is None:
        return None
    ch = m.group()
    kind = "lone surrogate" if "\ud800" <= ch <= "\udfff" else "control character"
    return f"{kind} U+{ord(ch):04X} at position {m.start()}"


def _require_clean(s: str, what: str = "text") -> None:
    problem = check_text(s)
    if problem is not None:
        raise TextRejected(f"{what}: {problem}")


# --- data files -------------------------------------------------------------------------------


def _rows(name: str, min_cols: int) -> Iterator[tuple[int, list[str]]]:
    """Non-comment rows of a TAB-separated data file; a missing file has none."""
    path = DATA_DIR / name
    if not path.exists():
        return
    for lineno, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip() or line.startswith("#"):
            continue
        cols = line.split("\t")
        if len(cols) < min_cols or not all(c.strip() for c in cols[:min_cols]):
            raise ValueError(f"{path}:{lineno}: expected {min_cols} TAB-separated columns")
        for c in cols:
            if (problem := check_text(c)) or re.search(_OWN_PUA, c):
                raise ValueError(f"{path}:{lineno}: {problem or 'private-use placeholder'}")
        yield lineno, [c.strip() for c in cols]


def _mapping(name: str, single_chars: bool = False) -> dict[str, str]:
    out: dict[str, str] = {}
    for lineno, (src, dst, *_) in _rows(name, 2):
        if src in out:
            raise ValueError(f"{DATA_DIR / name}:{lineno}: duplicate entry {src}")
        if single_chars and (len(src) != 1 or len(dst) != 1):
            raise ValueError(f"{DATA_DIR / name}:{lineno}: overrides are single characters")
        out[src] = dst
    return out


@functools.cache
def glossary(region: Region) -> dict[str, str]:
    """Simplified term → official Traditional form for ``region`` (common entries included)."""
    return _mapping("glossary-common.tsv") | _mapping(f"glossary-{region.lower()}.tsv")


@functools.cache
def char_overrides(region: Region) -> dict[str, str]:
    """Character overrides applied to OpenCC's output for ``region``."""
    return _mapping("overrides-common.tsv", True) | _mapping(
        f"overrides-{region.lower()}.tsv", True
    )


@functools.cache
def keep_chars() -> dict[str, frozenset[str]]:
    """Characters kept as written → the words in which OpenCC converts them after all."""
    out: dict[str, frozenset[str]] = {}
    for lineno, (ch, exceptions, *_) in _rows("keep-chars.txt", 2):
        if len(ch) != 1:
            raise ValueError(f"{DATA_DIR / 'keep-chars.txt'}:{lineno}: one character per line")
        out[ch] = frozenset() if exceptions == "-" else frozenset(exceptions.split())
    return out


@functools.cache
def ambiguous_name_chars() -> frozenset[str]:
    """Characters that make a personal name unconvertible without the applicant's spelling."""
    chars = [ch for _, (ch, *_) in _rows("ambiguous-name-chars.txt", 2)]
    if any(len(ch) != 1 for ch in chars) or len(set(chars)) != len(chars):
        raise ValueError("ambiguous-name-chars.txt: one distinct character per line")
    return frozenset(chars)


# --- OpenCC, built once per process -----------------------------------------------------------


@functools.cache
def _converter(config: str) -> opencc.OpenCC:
    """Construction costs 40–150 ms; the binding holds the GIL, so one instance is shared."""
    if config == "hk2s":
        # The default (True) can emit rare Extension-B characters (殢 → 𣨼).
        return opencc.OpenCC(config, include_tofu_risk_dictionaries=False)
    return opencc.OpenCC(config)


@dataclass(frozen=True)
class _Masker:
    """Replaces protected spans with the placeholder and remembers what to put back."""

    spans_only: re.Pattern[str]  # glossary words, exception words, kept characters, ASCII
    with_own_pua: re.Pattern[str]  # the same, plus input that contains our own PUA characters
    replacements: dict[str, str]  # glossary: matched Simplified → Traditional written as given
    passthrough: frozenset[str]  # exception words: left in the text for OpenCC

    def mask(self, text: str, spans: list[str], pattern: re.Pattern[str]) -> str:
        def sub(m: re.Match[str]) -> str:
            found = m.group()
            if found in self.passthrough:
                return found
            spans.append(self.replacements.get(found, found))
            return _PLACEHOLDER

        return pattern.sub(sub, text)


def _build_masker(words: dict[str, str], keep: dict[str, frozenset[str]]) -> _Masker:
    passthrough = frozenset(w for ws in keep.values() for w in ws) - words.keys()
    # Python tries alternatives in order, so longest-first makes the longest word win.
    alternatives = [re.escape(w) for w in sorted(words.keys() | passthrough, key=len, reverse=True)]
    if keep:
        alternatives.append("[" + "".join(re.escape(c) for c in sorted(keep)) + "]")
    alternatives.append(_ASCII_RUN)
    return _Masker(
        re.compile("|".join(alternatives)),
        re.compile("|".join([*alternatives, _OWN_PUA])),
        dict(words),
        passthrough,
    )


@functools.cache
def _traditional_masker(region: Region) -> _Masker:
    return _build_masker(glossary(region), keep_chars())


@functools.cache
def _plain_masker() -> _Masker:
    return _build_masker({}, {})


@functools.cache
def _overrides(region: Region) -> tuple[re.Pattern[str], dict[str, str]] | None:
    """A character class finds the rare overridden characters (str.translate is 4x slower)."""
    table = char_overrides(region)
    if not table:
        return None
    return re.compile("[" + "".join(re.escape(c) for c in sorted(table)) + "]"), table


def _region(region: str) -> Region:
    if region not in ("HK", "MO"):
        raise ValueError(f"region must be HK or MO, not {region!r}")
    return region  # type: ignore[return-value]


def _convert_many(
    texts: list[str], config: str, masker: _Masker, region: Region | None
) -> list[str]:
    """Mask protected spans, convert every text in one OpenCC call, apply overrides, unmask."""
    joined = _SEPARATOR.join(texts)
    if _FORBIDDEN.search(joined):
        for i, t in enumerate(texts):
            _require_clean(t, f"text {i}" if len(texts) > 1 else "text")
    if not texts:
        return []
    spans: list[str] = []
    if _PLACEHOLDER in joined or joined.count(_SEPARATOR) != len(texts) - 1:
        # Rare: the input holds our own PUA characters; mask them text by text.
        p = masker.with_own_pua
        joined = _SEPARATOR.join(masker.mask(t, spans, p) for t in texts)
    else:
        joined = masker.mask(joined, spans, masker.spans_only)  # no span crosses a separator
    out = _converter(config).convert(joined)
    if region is not None and (overrides := _overrides(region)) is not None:
        find, table = overrides
        out = find.sub(lambda m: table[m.group()], out)
    parts = out.split(_SEPARATOR)
    if len(parts) != len(texts) or out.count(_PLACEHOLDER) != len(spans):
        raise RuntimeError("OpenCC changed a field separator or protected-span placeholder")
    restore = iter(spans)
    result = []
    for part in parts:
        first, *rest = part.split(_PLACEHOLDER)
        result.append(first + "".join(next(restore) + piece for piece in rest))
    return result


# --- public API -------------------------------------------------------------------------------


def to_traditional_many(texts: Sequence[str], region: Region) -> list[str]:
    """:func:`to_traditional` of every text, in one OpenCC call.

    Each call has a fixed cost comparable to converting a 30-character field, so a whole
    application is converted at once. The result equals converting the texts one by one: the
    separator is a Private-Use-Area character no OpenCC word can span.
    """
    r = _region(region)
    return _convert_many(list(texts), "s2hk", _traditional_masker(r), r)


def to_traditional(s: str, region: Region) -> str:
    """Simplified → Traditional in ``region``'s official usage; raises :class:`TextRejected`."""
    return to_traditional_many([s], region)[0]


@functools.lru_cache(maxsize=4096)
def to_traditional_catalogue(s: str, region: Region) -> str:
    """:func:`to_traditional` for catalogue texts (item names), which recur on every case of
    their item; applicants' texts are never cached: they are personal data and seldom repeat."""
    return to_traditional(s, region)


def to_simplified_many(texts: Sequence[str]) -> list[str]:
    """Traditional (as agencies write it) → Simplified, in one OpenCC call."""
    return _convert_many(list(texts), "hk2s", _plain_masker(), None)


def to_simplified(s: str) -> str:
    """Traditional → Simplified with ``hk2s`` (tofu-risk dictionaries off)."""
    return to_simplified_many([s])[0]


def convert_name(name: str, name_traditional: str | None, region: Region) -> str | None:
    """The Traditional form of a personal name, or None when it cannot be written safely.

    The applicant's own ``nameTraditional`` wins and is returned as given (an empty one counts
    as absent). Otherwise the name is converted character by character, never as words (s2hk
    turns 梁子豪 into 樑子豪 and 胡子健 into 鬍子健), and only when no character is ambiguous as
    a name character (``ambiguous-name-chars.txt``: 于 → 於 would rename Mr 于); for those the
    caller leaves the Chinese name out and the Latin name carries the identity.
    """
    r = _region(region)
    if name_traditional is not None and name_traditional.strip():
        _require_clean(name_traditional, "nameTraditional")
        return name_traditional
    _require_clean(name, "name")
    if not name.strip() or any(ch in ambiguous_name_chars() for ch in name):
        return None
    return "".join(_name_char(ch, r) for ch in name)


@functools.lru_cache(maxsize=20_000)
def _name_char(ch: str, region: Region) -> str:
    """One name character converted on its own; cached, since every OpenCC call walks its
    dictionaries, which the rest of the pipeline has usually pushed out of the CPU cache."""
    return _convert_many([ch], "s2hk", _plain_masker(), region)[0]
