"""How the derived tables in ``gateway/data/text/`` were made, and how tests re-check them.

Run ``python -m gateway.text.derive`` to print each derived table; the committed files hold the
same rows plus a reason per line. Nothing here runs while converting.

* **Glyph forms** (``glyph-forms.tsv``): every character OpenCC's ``t2hk`` changes on its own
  (OpenCC's HKVariants table: the Hong Kong glyph standard). Macao government text is written in
  Big5 and keeps the standard form of each; Hong Kong keeps its glyph-standard form when
  Big5-HKSCS can encode it, else the standard form (neither government writes 税 or 説).
* **One-to-many characters**: Simplified characters with more than one Traditional character in
  either engine's character table: OpenCC's ``STCharacters`` (exported by the ``opencc_dict``
  tool shipped in the wheel) and zhconv-rs's, read by inverting its ``zh-hans`` conversion over
  every CJK character. ``ambiguous-name-chars.txt`` is their intersection with ``surnames.txt``
  plus a few given-name characters listed by hand.
"""

from __future__ import annotations

import functools
import os
import subprocess
import tempfile
from collections import defaultdict
from pathlib import Path

import opencc
import zhconv_rs

#: CJK Unified Ideographs, the BMP blocks (Extension A and the main block)
CJK = [chr(c) for r in ((0x3400, 0x4DBF), (0x4E00, 0x9FFF)) for c in range(r[0], r[1] + 1)]
_SEP = "\ue001"


def _each(convert, chars: list[str]) -> list[str]:
    out = convert(_SEP.join(chars)).split(_SEP)
    assert len(out) == len(chars)
    return out


def encodable(ch: str, codec: str) -> bool:
    try:
        ch.encode(codec)
    except UnicodeEncodeError:
        return False
    return True


@functools.cache
def hk_variants() -> dict[str, str]:
    """Standard (Big5) form → Hong Kong glyph-standard form, every character ``t2hk`` changes."""
    t2hk = opencc.OpenCC("t2hk")
    return {
        c: h for c, h in zip(CJK, _each(t2hk.convert, CJK), strict=True) if h != c and len(h) == 1
    }


@functools.cache
def glyph_rows() -> list[tuple[str, str, str, str, str]]:
    """(s2hk form, Macao form, Hong Kong writes ``hk``/``big5``, Big5 form → HK form ``yes``/``no``,
    source) for every character s2hk can write that Big5 cannot encode but whose Taiwan/Big5
    form (OpenCC ``t2tw`` of its standard form, else zhconv-rs ``zh-tw``) Big5 encodes."""
    s2hk, t2tw = opencc.OpenCC("s2hk"), opencc.OpenCC("t2tw")
    alphabet = set(_each(s2hk.convert, CJK))
    rev = {h: s for s, h in hk_variants().items()}
    cand = [x for x in sorted(alphabet) if len(x) == 1 and not encodable(x, "cp950")]
    std = [rev.get(x, x) for x in cand]
    tw = _each(t2tw.convert, std)
    zt = _each(lambda s: zhconv_rs.zhconv(s, "zh-tw"), std)
    pairs = []
    for x, m, z in zip(cand, tw, zt, strict=True):
        if len(m) == 1 and m != x and encodable(m, "cp950"):
            pairs.append((x, m, "OpenCC t2tw"))
        elif len(z) == 1 and z != x and encodable(z, "cp950"):
            pairs.append((x, z, "zhconv-rs zh-tw"))
    targets: dict[str, int] = defaultdict(int)
    for _, m, _ in pairs:
        targets[m] += 1
    rows = []
    for x, m, src in pairs:
        hk = "hk" if encodable(x, "big5hkscs") else "big5"
        back = "yes" if hk == "hk" and targets[m] == 1 and m not in alphabet else "no"
        rows.append((x, m, hk, back, src))
    return rows


def _opencc_dict_text(name: str) -> str:
    clib = Path(opencc.__file__).parent / "clib"
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "dict.txt"
        env = dict(os.environ, LD_LIBRARY_PATH=str(clib / "lib64"))
        subprocess.run(
            [
                str(clib / "bin" / "opencc_dict"),
                "-i",
                str(clib / "share" / "opencc" / name),
                "-o",
                str(out),
                "-f",
                "ocd2",
                "-t",
                "text",
            ],
            check=True,
            env=env,
            capture_output=True,
        )
        return out.read_text(encoding="utf-8")


@functools.cache
def opencc_one_to_many() -> dict[str, frozenset[str]]:
    out = {}
    for line in _opencc_dict_text("STCharacters.ocd2").splitlines():
        src, targets = line.split("\t")
        forms = frozenset(targets.split())
        if len(forms) > 1:
            out[src] = forms
    return out


@functools.cache
def zhconv_one_to_many() -> dict[str, frozenset[str]]:
    back: dict[str, set[str]] = defaultdict(set)
    for t, s in zip(CJK, _each(lambda x: zhconv_rs.zhconv(x, "zh-hans"), CJK), strict=True):
        if len(s) == 1:
            back[s].add(t)
    return {s: frozenset(ts) for s, ts in back.items() if len(ts) > 1}


def one_to_many() -> dict[str, frozenset[str]]:
    """Simplified → the Traditional characters either engine's table gives it, when more than
    one of them is a distinct Big5 character once glyph forms are merged (衞 counts as 衛):
    variant shapes outside Big5 (栢, 栁, 鈡) and the Simplified form itself (陈) do not count."""
    a, b = opencc_one_to_many(), zhconv_one_to_many()
    glyph = {hk: mo for hk, mo, *_ in glyph_rows()}
    out = {}
    for s in a.keys() | b.keys():
        merged = {glyph.get(t, t) for t in a.get(s, frozenset()) | b.get(s, frozenset())}
        forms = frozenset(t for t in merged if encodable(t, "cp950"))
        if len(forms) > 1:
            out[s] = forms
    return out


def main() -> None:
    print("# glyph forms: s2hk form, Macao form, HK writes, Big5 to HK, source")
    for row in glyph_rows():
        print("\t".join(row))
    many = one_to_many()
    print(
        f"# one-to-many: {len(many)} (OpenCC {len(opencc_one_to_many())}, "
        f"zhconv-rs {len(zhconv_one_to_many())})"
    )


if __name__ == "__main__":
    main()
