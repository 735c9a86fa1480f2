"""The rule tables in ``gateway/data/text/`` and what a text may hold before conversion.

Each table is read once per process; a malformed line is an error naming the file and line.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Literal

Region = Literal["HK", "MO"]

DATA_DIR = Path(__file__).parents[1] / "data" / "text"

# One placeholder for every protected span (restored in order) and one field separator for
# batches. OpenCC leaves Private-Use-Area characters alone, and no dictionary entry contains
# them, so no word can be matched across a separator. Input that already contains either
# character is masked like any other protected span.
PLACEHOLDER = "\ue000"
SEPARATOR = "\ue001"

# C0 controls except TAB, LF, CR; DEL; C1 controls; lone surrogates. OpenCC truncates at NUL
# and raises on surrogates, so such text never reaches it.
_CONTROLS = "\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff"
# Invisible characters and those that reorder what is shown (bidi embeddings, overrides and
# isolates; zero-width spaces, joiners and marks; the BOM as ZWNBSP): "陈\u200b伟强" looks
# like "陈伟强" to an officer and is another name to a look-up. No form needs them.
_INVISIBLE = "\u061c\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff"
# Unicode's 66 noncharacters: U+FFFE and U+FFFF are not even XML characters. FORBIDDEN holds
# only the BMP ones, so a search stays one bitmap look-up per character (a class reaching past
# U+FFFF is a list of ranges tried for every character: ~10x the cost over a whole
# application); the 32 above it, all U+xFFFE/U+xFFFF, are looked for only in text that holds a
# character past U+FFFF at all (names may: CJK extension B).
FORBIDDEN = re.compile(f"[{_CONTROLS}{_INVISIBLE}\ufdd0-\ufdef\ufffe\uffff]")
_ASTRAL = re.compile("[\U00010000-\U0010ffff]")
_ASTRAL_NONCHARACTER = re.compile(
    "["
    + "".join(chr(p + 0xFFFE) + chr(p + 0xFFFF) for p in range(0x10000, 0x110000, 0x10000))
    + "]"
)
# Their UTF-8 forms, by lead byte. Each pattern starts with one literal byte (which the regex
# engine scans for quickly) or runs only when a cheap one-byte search found its lead byte;
# two-byte substring searches and a pattern of alternatives were measured several times
# slower over a whole application.
_EF_FORMS = re.compile(
    b"\xef(?:\xbb\xbf|\xb7[\x90-\xaf]|\xbf[\xbe\xbf])"
)  # U+FEFF, FDD0-FDEF, FFFE/F
_E2_FORMS = re.compile(b"\xe2(?:\x80[\x8b-\x8f\xaa-\xae]|\x81[\xa0-\xa4\xa6-\xa9])")  # U+200B...
_ASTRAL_FORMS = re.compile(b"[\xf0-\xf4][\x8f\x9f\xaf\xbf]\xbf[\xbe\xbf]")  # U+1FFFE ... U+10FFFF


#: the UTF-8 lead bytes of every form :func:`may_hold_invisible_or_noncharacter` looks for
INVISIBLE_LEADS = b"\xd8\xe2\xef\xf0\xf1\xf2\xf3\xf4"
_ASTRAL_LEAD = re.compile(b"[\xf0-\xf4]").search


def may_hold_invisible_or_noncharacter(data: bytes, leads: bytes | None = None) -> bool:
    """Whether UTF-8 ``data`` holds an invisible character or a noncharacter (U+061C is the
    only two-byte one): when not, no walk over every string is needed (~3 µs for an
    application, where one pattern of alternatives took ~20).

    ``leads``, when given, holds at least every byte of :data:`INVISIBLE_LEADS` that ``data``
    holds (what a pass the caller makes anyway kept of it): only the forms whose lead byte is
    there are searched for. Most applications hold none of them (full-width punctuation is
    the usual one, EF).
    """
    if leads is None:
        leads = data
    return (
        (b"\xef" in leads and _EF_FORMS.search(data) is not None)
        or (b"\xe2" in leads and _E2_FORMS.search(data) is not None)
        or (b"\xd8" in leads and b"\xd8\x9c" in data)
        or (_ASTRAL_LEAD(leads) is not None and _ASTRAL_FORMS.search(data) is not None)
    )


# Printable ASCII runs: codes, IDs, URLs, e-mail addresses, Latin words, digits.
ASCII_RUN = r"[!-~]+"
OWN_PUA = f"[{PLACEHOLDER}{SEPARATOR}]"
HAS_FULLWIDTH = re.compile("[\uff10-\uff19\uff21-\uff3a\uff41-\uff5a]")


class TextRejected(ValueError):
    """Text that must not be converted (control characters, lone surrogates)."""


def check_text(s: str) -> str | None:
    """A human-readable problem with ``s``, or None when it may be converted."""
    m = FORBIDDEN.search(s)
    if m is None and _ASTRAL.search(s):
        m = _ASTRAL_NONCHARACTER.search(s)
    if m is None:
        return None
    ch = m.group()
    if "\ud800" <= ch <= "\udfff":
        kind = "lone surrogate"
    elif re.match(f"[{_CONTROLS}]", ch):
        kind = "control character"
    elif re.match(f"[{_INVISIBLE}]", ch):
        kind = "invisible or text-reordering character"
    else:
        kind = "Unicode noncharacter"
    return f"{kind} U+{ord(ch):04X} at position {m.start()}"


def require_clean(s: str, what: str = "text") -> None:
    problem = check_text(s)
    if problem is not None:
        raise TextRejected(f"{what}: {problem}")


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
            if (problem := check_text(c)) or re.search(OWN_PUA, c):
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
def gazetteer(region: Region) -> dict[str, str]:
    """Simplified → official Traditional place, district and street names of ``region``."""
    return _mapping(f"gazetteer-{region.lower()}.tsv")


@functools.cache
def glyph_forms() -> list[tuple[str, str, str, str]]:
    """(s2hk form, Macao form, what Hong Kong writes ``hk``/``big5``, Big5→HK ``yes``/``no``)."""
    rows = []
    for lineno, (hk, mo, hk_writes, back, *_) in _rows("glyph-forms.tsv", 5):
        if (
            len(hk) != 1
            or len(mo) != 1
            or hk_writes not in ("hk", "big5")
            or back
            not in (
                "yes",
                "no",
            )
        ):
            raise ValueError(f"{DATA_DIR / 'glyph-forms.tsv'}:{lineno}: malformed row")
        rows.append((hk, mo, hk_writes, back))
    return rows


@functools.cache
def char_overrides(region: Region) -> dict[str, str]:
    """Glyph forms that OpenCC's ``s2hk`` output changes to for ``region``: Macao writes every
    Big5 form; Hong Kong only those whose HK form Big5-HKSCS lacks (税 → 稅)."""
    return {
        hk: mo for hk, mo, hk_writes, _ in glyph_forms() if region == "MO" or hk_writes == "big5"
    }


@functools.cache
def primary_overrides(region: Region) -> dict[str, str]:
    """Glyph forms applied to the primary engine's output: for Hong Kong, the Big5 forms
    zhconv-rs writes turned into the HK glyph-standard form s2hk writes (溫 → 温, 衛 → 衞) when
    that Big5 form is never a character of its own; for Macao, as for OpenCC."""
    if region == "MO":
        return char_overrides(region)
    table = {mo: hk for hk, mo, hk_writes, back in glyph_forms() if back == "yes"}
    return table | char_overrides(region)


@functools.cache
def accepted(region: Region) -> dict[tuple[str, str, str], str]:
    """Triaged disagreements: (Simplified, one engine's form, the other's) → the form to write."""
    out: dict[tuple[str, str, str], str] = {}
    for name in ("accepted-common.tsv", f"accepted-{region.lower()}.tsv"):
        for lineno, (src, chosen, other, *_) in _rows(name, 3):
            if len(src) != len(chosen) or len(src) != len(other):
                raise ValueError(f"{DATA_DIR / name}:{lineno}: forms must be as long as the source")
            out[(src, chosen, other)] = chosen
            out[(src, other, chosen)] = chosen
    return out


@functools.cache
def surname_forms(region: Region) -> dict[str, str]:
    """Surnames whose Traditional form is certain although the character is ambiguous."""
    col = 1 if region == "HK" else 2
    return {cols[0]: cols[col] for _, cols in _rows("surname-forms.tsv", 3)}


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


@functools.cache
def phrases(region: Region) -> dict[str, tuple[tuple[str, str, int], ...]]:
    """Words that settle an engine disagreement on one of their characters (``phrases-*.tsv``),
    by character: (Simplified word, Traditional word, the character's offset), longest first,
    then words that start at the character (能干扰: 干扰 before 能干). A region's entry
    overrides a common one with the same Simplified word."""
    words: dict[str, str] = {}
    for name in ("phrases-common.tsv", f"phrases-{region.lower()}.tsv"):
        seen: set[str] = set()
        for lineno, (src, written, *_) in _rows(name, 2):
            if len(src) != len(written) or src in seen:
                problem = "a repeat" if src in seen else "forms must be as long as the word"
                raise ValueError(f"{DATA_DIR / name}:{lineno}: {problem}")
            seen.add(src)
            words[src] = written
    index: dict[str, list[tuple[str, str, int]]] = {}
    for src, written in words.items():
        for offset, ch in enumerate(src):
            index.setdefault(ch, []).append((src, written, offset))
    return {ch: tuple(sorted(v, key=lambda e: (-len(e[0]), e[2]))) for ch, v in index.items()}
