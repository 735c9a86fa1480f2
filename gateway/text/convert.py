"""Simplified ↔ Traditional Chinese for Hong Kong and Macao agencies: two engines weighed.

Guangdong files Simplified Chinese; agencies read Traditional. Every text is converted by two
engines (docs/decisions.md, "Text conversion", has the measurements behind the choice):

* **zhconv-rs** (MediaWiki's ``zh-hk`` / ``zh-mo`` tables), the primary engine;
* **OpenCC** ``s2hk``, the second opinion (and ``hk2s`` for the way back).

Both outputs are brought to the region's glyph forms (``glyph-forms.tsv``: Macao writes the Big5
form of every character s2hk writes in the Hong Kong glyph standard outside Big5; Hong Kong
keeps its glyph-standard forms where Big5-HKSCS has them). Where they still differ on a span,
the project's rules decide, in this order:

* protected spans are written as given whatever the engines say: the per-region glossary of
  official terms (``glossary-*.tsv``), the gazetteer of official place and street names
  (``gazetteer-*.tsv``), characters kept as written (``keep-chars.txt``: Guangdong's 涌) and
  ASCII runs (codes, IDs, URLs, Latin text, digits);
* a character inside a word listed in ``phrases-*.tsv`` takes that word's form (地瓜干 → 地瓜乾:
  a one-to-many character neither engine gets right in every word);
* a glyph pair takes the region's glyph form; a pair triaged in ``accepted-*.tsv`` takes the
  form written there, with its reason (the default for that pair; phrases are its exceptions);
* a span where the primary engine changes the word, not just its characters (服务器 → 伺服器),
  takes OpenCC's character-for-character form (``form-only``): agencies get the applicant's
  words;
* anything else takes the primary engine's form and is returned as an open disagreement
  (:attr:`Converted.open`): filing records it (``gateway.text.review``) and
  ``gbagw text review`` lists them with counts and examples.

The engines always see the whole text: nothing is replaced before they run, so a protected span
never splits a word (3只 keeps its context: 3隻). Protected spans are put back by position
afterwards. Personal names are never converted as words: see :func:`convert_name`.

The caller keeps the original Simplified text; converting back (:func:`to_simplified`) is for
what agencies send, never a way to regenerate the original.
"""

from __future__ import annotations

import bisect
import difflib
import functools
import itertools
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

import opencc
import zhconv_rs

from gateway.text.tables import (
    ASCII_RUN,
    DATA_DIR,
    FORBIDDEN,
    HAS_FULLWIDTH,
    SEPARATOR,
    Region,
    TextRejected,
    accepted,
    ambiguous_name_chars,
    char_overrides,
    check_text,
    gazetteer,
    glossary,
    glyph_forms,
    keep_chars,
    phrases,
    primary_overrides,
    require_clean,
    surname_forms,
)

__all__ = [
    "DATA_DIR",
    "Region",
    "TextRejected",
    "accepted",
    "ambiguous_name_chars",
    "char_overrides",
    "check_text",
    "gazetteer",
    "glossary",
    "glyph_forms",
    "keep_chars",
    "phrases",
    "primary_overrides",
    "surname_forms",
]

# --- the engines, built once per process ------------------------------------------------------

PRIMARY = "zhconv-rs"
SECONDARY = "opencc"
#: decided_by labels, in the order they are written ("engines+glossary")
LABELS = (
    "engines",
    PRIMARY,
    "glyph",
    "phrase",
    "accepted",
    "form-only",
    "glossary",
    "gazetteer",
    "keep",
)
#: full-width digits and Latin letters: the engines see them as ASCII (same length, so a measure
#: word after ３ keeps its context) and they are written back as filed
_FULLWIDTH = str.maketrans(
    {
        chr(c): chr(c - 0xFEE0)
        for r in ((0xFF10, 0xFF19), (0xFF21, 0xFF3A), (0xFF41, 0xFF5A))
        for c in range(r[0], r[1] + 1)
    }
)
_FULLWIDTH_RUN = "[\uff10-\uff19\uff21-\uff3a\uff41-\uff5a]+"


@functools.cache
def _converter(config: str) -> opencc.OpenCC:
    """Construction costs 40–150 ms; the binding holds the GIL, so one instance is shared."""
    if config == "hk2s":
        # The default (True) can emit rare Extension-B characters (殢 → 𣨼).
        return opencc.OpenCC(config, include_tofu_risk_dictionaries=False)
    return opencc.OpenCC(config)


@functools.cache
def _zhconv(region: Region) -> Callable[[str], str]:
    """zhconv-rs with MediaWiki's built-in tables for the region, built once."""
    return zhconv_rs.make_converter("zh-hk" if region == "HK" else "zh-mo", [])


def _region(region: str) -> Region:
    if region not in ("HK", "MO"):
        raise ValueError(f"region must be HK or MO, not {region!r}")
    return region  # type: ignore[return-value]


@functools.cache
def _fixer(table_key: tuple[str, Region]) -> Callable[[str], str]:
    """Applies a glyph table; a character class finds the rare characters (translate is 4x
    slower on text that holds none)."""
    kind, region = table_key
    table = primary_overrides(region) if kind == "primary" else char_overrides(region)
    if not table:
        return lambda s: s
    find = re.compile("[" + "".join(re.escape(c) for c in sorted(table)) + "]")
    return lambda s: find.sub(lambda m: table[m.group()], s)


@dataclass(frozen=True)
class _Protector:
    """Finds protected spans in the Simplified text; the engines still see the whole text."""

    pattern: re.Pattern[str]
    #: ``pattern`` without ASCII runs: for text whose ASCII both engines kept, where writing
    #: the runs back would change nothing (most fields hold digits: fewer matches to walk)
    rules_only: re.Pattern[str]
    words: dict[str, tuple[str, str]]  # Simplified → (Traditional written as given, rule)
    passthrough: frozenset[str]  # exception words of kept characters: left to the engines
    keep: frozenset[str]

    def spans(self, text: str, ascii_kept: bool = False) -> list[tuple[int, int, str, str | None]]:
        out: list[tuple[int, int, str, str | None]] = []
        for m in (self.rules_only if ascii_kept else self.pattern).finditer(text):
            found = m.group()
            if found in self.passthrough:
                continue
            if found in self.words:
                written, rule = self.words[found]
                out.append((m.start(), m.end(), written, rule))
            elif found in self.keep:
                out.append((m.start(), m.end(), found, "keep"))
            else:
                out.append((m.start(), m.end(), found, None))  # ASCII: verbatim
        return out


@functools.cache
def _protector(region: Region) -> _Protector:
    words = {s: (t, "gazetteer") for s, t in gazetteer(region).items()}
    words |= {s: (t, "glossary") for s, t in glossary(region).items()}
    keep = keep_chars()
    passthrough = frozenset(w for ws in keep.values() for w in ws) - words.keys()
    # Python tries alternatives in order, so longest-first makes the longest word win; the
    # lookahead on first characters lets most positions fail at once (4x faster on prose).
    listed = sorted(words.keys() | passthrough, key=len, reverse=True)
    alternatives = []
    if listed:
        first = "".join(re.escape(c) for c in sorted({w[0] for w in listed}))
        alternatives.append(f"(?=[{first}])(?:" + "|".join(map(re.escape, listed)) + ")")
    if keep:
        alternatives.append("[" + "".join(re.escape(c) for c in sorted(keep)) + "]")
    alternatives.append(_FULLWIDTH_RUN)
    return _Protector(
        re.compile("|".join([*alternatives, ASCII_RUN])),
        re.compile("|".join(alternatives)),
        words,
        passthrough,
        frozenset(keep),
    )


@functools.cache
def _glyph_pairs(region: Region) -> dict[tuple[str, str], str]:
    """(one engine's character, the other's) → the region's form, for glyph-form pairs."""
    out = {}
    for hk, mo, hk_writes, _ in glyph_forms():
        chosen = hk if region == "HK" and hk_writes == "hk" else mo
        out[(hk, mo)] = out[(mo, hk)] = chosen
    return out


# --- disagreements ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Disagreement:
    """A span where the engines wrote different characters and no rule settled it: the
    primary engine's form went out. ``position`` is the span's offset in the source text."""

    position: int
    source: str
    primary: str
    secondary: str


@dataclass(frozen=True)
class Converted:
    """A converted text, what decided it (``engines``, ``zhconv-rs``, rules, joined by +) and
    its open disagreements (empty unless ``zhconv-rs`` is among the deciders)."""

    text: str
    decided_by: str
    open: tuple[Disagreement, ...] = ()


def _groups(a: str, b: str) -> Iterator[tuple[int, int]]:
    """Maximal runs of positions where equal-length ``a`` and ``b`` differ."""
    i, n = 0, len(a)
    while i < n:
        if a[i] == b[i]:
            i += 1
            continue
        j = i + 1
        while j < n and a[j] != b[j]:
            j += 1
        yield i, j
        i = j


def _is_form_only(src: str, written: str) -> bool:
    """True when ``written`` is ``src`` in other characters, not another word."""
    return _converter("hk2s").convert(written) == src or zhconv_rs.zhconv(written, "zh-cn") == src


def _runs(positions: list[int]) -> Iterator[tuple[int, int]]:
    """Maximal runs of consecutive ``positions`` as (start, end)."""
    for _, run in itertools.groupby(enumerate(positions), lambda e: e[1] - e[0]):
        found = [k for _, k in run]
        yield found[0], found[-1] + 1


def _settle(src: str, k: int, prim: str, sec: str, region: Region) -> tuple[str, str] | None:
    """The form a rule writes for ``src[k]`` where the engines wrote ``prim`` and ``sec``, and
    the rule: a listed word around it (``phrase``), a glyph pair, a triaged pair (``accepted``)."""
    for word, written, offset in phrases(region).get(src[k], ()):
        start = k - offset
        if start >= 0 and src.startswith(word, start):
            return written[offset], "phrase"
    chosen = _glyph_pairs(region).get((prim, sec))
    if chosen is not None:
        return chosen, "glyph"
    chosen = accepted(region).get((src[k], prim, sec))
    return None if chosen is None else (chosen, "accepted")


def _decide(src: str, prim: str, sec: str, region: Region, protector: _Protector) -> Converted:
    labels: set[str] = set()
    spans = protector.spans(src)
    for _, _, _, rule in spans:
        if rule is not None:
            labels.add(rule)
    if prim == sec and len(sec) == len(src):  # the common case: nothing to weigh
        labels.add("engines")
        if not spans:
            return Converted(sec, "+".join(x for x in LABELS if x in labels))
        return Converted(_splice(sec, spans), "+".join(x for x in LABELS if x in labels))
    protected = bytearray(len(src))
    for i, j, _, _ in spans:
        protected[i:j] = b"\x01" * (j - i)
    if len(sec) != len(src):
        # OpenCC changed the length (it never has on the corpus): no position to restore spans
        # by, so the primary engine's text goes as it is.
        labels.add(PRIMARY)
        return Converted(prim, "+".join(x for x in LABELS if x in labels))
    chars = list(sec)
    found: list[Disagreement] = []
    if prim == sec:
        labels.add("engines")
    else:
        pieces: list[tuple[int, int, str]] = []  # (start, end, primary's text) of equal length
        if len(prim) == len(sec):
            pieces = [(i, j, prim[i:j]) for i, j in _groups(prim, sec)]
        else:
            ops = difflib.SequenceMatcher(None, sec, prim, autojunk=False).get_opcodes()
            for op, i1, i2, j1, j2 in ops:
                if op == "equal":
                    continue
                if op == "replace" and i2 - i1 == j2 - j1:
                    pieces += [
                        (i1 + a, i1 + b, prim[j1 + a : j1 + b])
                        for a, b in _groups(prim[j1:j2], sec[i1:i2])
                    ]
                elif not all(protected[i1:i2]) or i1 == i2:
                    labels.add("form-only")  # the primary engine changed the word's length
        for i, j, p in pieces:
            settled = {
                k: s
                for k in range(i, j)
                if not protected[k] and (s := _settle(src, k, p[k - i], sec[k], region))
            }
            whole = accepted(region).get((src[i:j], p, sec[i:j]))
            if whole is not None and all(rule != "phrase" for _, rule in settled.values()):
                settled = {k: (whole[k - i], "accepted") for k in range(i, j) if not protected[k]}
            for k, (form, rule) in settled.items():
                chars[k] = form
                labels.add(rule)
            unsettled = [k for k in range(i, j) if not protected[k] and k not in settled]
            for a, b in _runs(unsettled):
                s_src, s_prim, s_sec = src[a:b], p[a - i : b - i], sec[a:b]
                if not _is_form_only(s_src, s_prim) and _is_form_only(s_src, s_sec):
                    labels.add("form-only")
                else:
                    chars[a:b] = list(s_prim)
                    labels.add(PRIMARY)
                    found.append(Disagreement(a, s_src, s_prim, s_sec))
        if not labels & {PRIMARY, "glyph", "phrase", "accepted", "form-only"}:
            labels.add("engines")  # they differed only inside protected spans
    text = _splice("".join(chars), spans)
    return Converted(text, "+".join(x for x in LABELS if x in labels), tuple(found))


def _splice(base: str, spans: list[tuple[int, int, str, str | None]]) -> str:
    """``base`` (aligned with the source) with each protected span written as given."""
    out: list[str] = []
    at = 0
    for i, j, written, _ in spans:
        out.append(base[at:i])
        out.append(written)
        at = j
    out.append(base[at:])
    return "".join(out)


@functools.cache
def _label(rules: frozenset[str]) -> str:
    return "+".join(x for x in LABELS if x in rules)


def _agreed(
    texts: list[str], joined: str, seen: str, sec: str, protector: _Protector
) -> list[Converted]:
    """Both engines wrote the same batch: protected spans written as given, labels per text."""
    # no span crosses a separator: none matches one
    kept = seen.encode("ascii", "ignore") == sec.encode("ascii", "ignore")
    spans = protector.spans(joined, ascii_kept=kept)
    if not spans:
        parts = [sec] if len(texts) == 1 else sec.split(SEPARATOR)
        return [Converted(p, "engines") for p in parts]
    parts = [_splice(sec, spans)] if len(texts) == 1 else _splice(sec, spans).split(SEPARATOR)
    starts = list(itertools.accumulate((len(t) + 1 for t in texts[:-1]), initial=0))
    rules: list[set[str]] = [{"engines"} for _ in texts]
    for i, _, _, rule in spans:
        if rule is not None:
            rules[bisect.bisect_right(starts, i) - 1].add(rule)
    return [Converted(p, _label(frozenset(x))) for p, x in zip(parts, rules, strict=True)]


def convert_decided(texts: Sequence[str], region: Region) -> list[Converted]:
    """Every text converted to ``region``'s Traditional, with what decided it; raises
    :class:`TextRejected`. One call per engine for the whole batch."""
    r = _region(region)
    texts = list(texts)
    joined = SEPARATOR.join(texts)
    if FORBIDDEN.search(joined):
        for i, t in enumerate(texts):
            require_clean(t, f"text {i}" if len(texts) > 1 else "text")
    if not texts:
        return []
    if len(texts) > 1 and joined.count(SEPARATOR) != len(texts) - 1:
        # Rare: the input holds our own separator; convert text by text.
        return [convert_decided([t], r)[0] for t in texts]
    seen = joined.translate(_FULLWIDTH) if HAS_FULLWIDTH.search(joined) else joined
    prim = _fixer(("primary", r))(_zhconv(r)(seen))
    sec = _fixer(("secondary", r))(_converter("s2hk").convert(seen))
    protector = _protector(r)
    if prim == sec and len(sec) == len(joined):
        return _agreed(
            texts, joined, seen, sec, protector
        )  # the common case, without a loop per text
    if len(texts) == 1:
        prims, secs = [prim], [sec]
    else:
        prims, secs = prim.split(SEPARATOR), sec.split(SEPARATOR)
        if len(prims) != len(texts) or len(secs) != len(texts):
            return [convert_decided([t], r)[0] for t in texts]
    return [_decide(t, p, s, r, protector) for t, p, s in zip(texts, prims, secs, strict=True)]


# --- the way back: OpenCC hk2s ----------------------------------------------------------------


def _to_simplified_joined(texts: list[str]) -> list[str]:
    joined = SEPARATOR.join(texts)
    if FORBIDDEN.search(joined):
        for i, t in enumerate(texts):
            require_clean(t, f"text {i}" if len(texts) > 1 else "text")
    if not texts:
        return []
    if len(texts) > 1 and joined.count(SEPARATOR) != len(texts) - 1:
        return [_to_simplified_joined([t])[0] for t in texts]
    out = _converter("hk2s").convert(joined)
    parts = [out] if len(texts) == 1 else out.split(SEPARATOR)
    if len(parts) != len(texts):
        raise RuntimeError("OpenCC changed a field separator")
    result = []
    for t, part in zip(texts, parts, strict=True):
        if len(part) == len(t):  # ASCII runs verbatim, by position
            chars = list(part)
            for m in re.finditer(ASCII_RUN, t):
                chars[m.start() : m.end()] = list(m.group())
            part = "".join(chars)
        result.append(part)
    return result


# --- public API -------------------------------------------------------------------------------


def to_traditional_many(texts: Sequence[str], region: Region) -> list[str]:
    """:func:`to_traditional` of every text, one engine call each for the whole batch.

    The result equals converting the texts one by one: the separator is a Private-Use-Area
    character no dictionary word of either engine can span.
    """
    return [c.text for c in convert_decided(texts, region)]


def to_traditional(s: str, region: Region) -> str:
    """Simplified → Traditional in ``region``'s official usage; raises :class:`TextRejected`."""
    return convert_decided([s], region)[0].text


@functools.lru_cache(maxsize=4096)
def to_traditional_catalogue(s: str, region: Region) -> str:
    """:func:`to_traditional` for catalogue texts (item names), which recur on every case of
    their item; applicants' texts are never cached: they are personal data and seldom repeat."""
    return to_traditional(s, region)


def to_simplified_many(texts: Sequence[str]) -> list[str]:
    """Traditional (as agencies write it) → Simplified, in one OpenCC call."""
    return _to_simplified_joined(list(texts))


def to_simplified(s: str) -> str:
    """Traditional → Simplified with ``hk2s`` (tofu-risk dictionaries off)."""
    return to_simplified_many([s])[0]


def convert_name_decided(
    name: str, name_traditional: str | None, region: Region
) -> tuple[str | None, str]:
    """:func:`convert_name` and what decided it: ``nameTraditional``, ``name-rules`` (character
    by character) or ``ambiguous`` (left out)."""
    r = _region(region)
    if name_traditional is not None and name_traditional.strip():
        require_clean(name_traditional, "nameTraditional")
        return name_traditional, "nameTraditional"
    require_clean(name, "name")
    if not name.strip():
        return None, "ambiguous"
    ambiguous = ambiguous_name_chars()
    surnames = surname_forms(r)
    lead = name.lstrip()
    at = len(name) - len(lead)
    out = []
    for k, ch in enumerate(name):
        if k == at and ch in surnames:
            out.append(surnames[ch])
        elif ch in ambiguous:
            return None, "ambiguous"
        else:
            out.append(_name_char(ch, r))
    return "".join(out), "name-rules"


def convert_name(name: str, name_traditional: str | None, region: Region) -> str | None:
    """The Traditional form of a personal name, or None when it cannot be written safely.

    The applicant's own ``nameTraditional`` wins and is returned as given (an empty one counts
    as absent). Otherwise the name is converted character by character, never as words (s2hk
    turns 梁子豪 into 樑子豪 and 胡子健 into 鬍子健), and only when no character is ambiguous as
    a name character (``ambiguous-name-chars.txt``: 于 → 於 would rename Mr 于), except a
    leading surname whose form is certain (``surname-forms.tsv``: 梁, 叶 → 葉); for the others
    the caller leaves the Chinese name out and the Latin name carries the identity.
    """
    return convert_name_decided(name, name_traditional, region)[0]


@functools.lru_cache(maxsize=20_000)
def _name_char(ch: str, region: Region) -> str:
    """One name character converted on its own by the primary engine, in the region's glyph
    forms; cached (a handful of characters make up most names)."""
    return _fixer(("primary", region))(_zhconv(region)(ch))
