"""The differential corpus: Simplified words both engines convert (bench/text.py, tests)."""

from __future__ import annotations

import functools
from collections import Counter
from pathlib import Path

from gateway.text import convert

#: a fixed sample of jieba's dictionary, committed with its triage (tests run on it)
SAMPLE = Path(__file__).parents[1] / "data" / "text" / "corpus-sample.txt"


@functools.cache
def jieba_words() -> list[str]:
    """Every word of the dictionary shipped with jieba (~350k), in file order."""
    import jieba  # type: ignore[import-untyped]  # test extra: the corpus is for tests and bench

    path = Path(jieba.__file__).parent / "dict.txt"
    with path.open(encoding="utf-8") as f:
        return [line.split(" ", 1)[0] for line in f if line.strip()]


def sample_words() -> list[str]:
    return [w for w in SAMPLE.read_text(encoding="utf-8").splitlines() if w and w[0] != "#"]


def disagreements(
    words: list[str],
    region: convert.Region,
    groups: Counter[tuple[str, str, str]] | None = None,
    examples: dict[tuple[str, str, str], list[str]] | None = None,
) -> dict[str, int]:
    """Words by class: ``agree`` (engines equal), ``triaged`` (a rule decided every
    disagreement), ``open`` (the primary engine decided alone). ``groups`` and ``examples``,
    when given, collect the open spans by (Simplified, zhconv-rs, OpenCC) and their words."""
    counts = {"agree": 0, "triaged": 0, "open": 0}
    for start in range(0, len(words), 5000):
        chunk = words[start : start + 5000]
        for word, c in zip(chunk, convert.convert_decided(chunk, region), strict=True):
            labels = set(c.decided_by.split("+"))
            for d in c.open:
                key = (d.source, d.primary, d.secondary)
                if groups is not None:
                    groups[key] += 1
                if examples is not None:
                    examples.setdefault(key, []).append(word)
            if convert.PRIMARY in labels:
                counts["open"] += 1
            elif "engines" in labels:
                counts["agree"] += 1
            else:
                counts["triaged"] += 1
    return counts
