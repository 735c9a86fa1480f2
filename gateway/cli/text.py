"""``gbagw text review``: engine disagreements no rule settled, for integration engineers.

Each text is converted by both engines (gateway.text.convert); a span where they differ and no
rule (glossary, gazetteer, keep list, glyph forms, accepted list, form-only) decides goes out in
the primary engine's form and is counted here. Triage the largest groups into
``gateway/data/text/accepted-*.tsv`` (or the glossary / gazetteer), each line with its reason.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from gateway.cli.common import OK, USAGE, JsonOpt, err, out

text_app = typer.Typer(no_args_is_help=True, help="Chinese text conversion: disagreements.")


def _texts_of(path: Path) -> list[str]:
    """Plain text (one text per line) or JSON: a list of strings, TextPairs or cases with
    ``texts`` (what ``gbagw cases show --json`` prints)."""
    raw = path.read_text(encoding="utf-8")
    if path.suffix != ".json":
        return [line for line in raw.splitlines() if line.strip()]
    found: list[str] = []

    def walk(v: Any) -> None:
        if isinstance(v, str):
            found.append(v)
        elif isinstance(v, dict):
            if "original" in v and isinstance(v["original"], str):
                if not str(v.get("path", "")).endswith("name"):  # names follow the name rules
                    found.append(v["original"])
            else:
                for x in v.values():
                    walk(x)
        elif isinstance(v, list):
            for x in v:
                walk(x)

    walk(json.loads(raw))
    return found


@text_app.command("review")
def review(
    files: Annotated[
        list[Path] | None,
        typer.Argument(help="Texts: .txt (one per line) or .json (TextPairs, cases)."),
    ] = None,
    region: Annotated[str, typer.Option("--region", help="HK, MO or both.")] = "both",
    corpus: Annotated[
        bool, typer.Option("--corpus", help="Also jieba's dictionary (~350k words).")
    ] = False,
    top: Annotated[int, typer.Option("--top", min=1, max=10_000)] = 50,
    as_json: JsonOpt = False,
) -> None:
    """Open disagreements between zhconv-rs and OpenCC, largest groups first, with examples."""
    from gateway.text import convert
    from gateway.text.corpus import jieba_words

    regions = ["HK", "MO"] if region == "both" else [region.upper()]
    if any(r not in ("HK", "MO") for r in regions):
        err.print(f"error --region must be HK, MO or both, not {region}", markup=False)
        raise typer.Exit(USAGE)
    texts: list[str] = []
    for f in files or []:
        texts += _texts_of(f)
    if corpus:
        try:
            texts += jieba_words()
        except ImportError:
            err.print("error --corpus needs jieba (pip install '.[test]')", markup=False)
            raise typer.Exit(USAGE) from None
    if not texts:
        err.print("error nothing to review: give files or --corpus", markup=False)
        raise typer.Exit(USAGE)
    log = convert.review_log()
    log.clear()
    decided: dict[str, int] = {}
    for r in regions:
        for start in range(0, len(texts), 2000):
            for c in convert.convert_decided(texts[start : start + 2000], r):  # type: ignore[arg-type]
                decided[c.decided_by] = decided.get(c.decided_by, 0) + 1
    groups = log.counts.most_common(top)
    if as_json:
        view = {
            "texts": len(texts),
            "regions": regions,
            "decided_by": decided,
            "open": sum(log.counts.values()),
            "groups": [
                {
                    "region": k[0],
                    "source": k[1],
                    "primary": k[2],
                    "secondary": k[3],
                    "count": n,
                    "examples": log.examples.get(k, []),
                }
                for k, n in groups
            ],
        }
        out.out(json.dumps(view, ensure_ascii=False), highlight=False)
        raise typer.Exit(OK)
    out.print(
        f"{len(texts)} texts × {len(regions)} region(s); open disagreements "
        f"{sum(log.counts.values())} in {len(log.counts)} groups",
        markup=False,
    )
    out.print(
        "decided by: " + ", ".join(f"{k} {v}" for k, v in sorted(decided.items())), markup=False
    )
    for (r, src, p, s), n in groups:
        ex = " | ".join(log.examples.get((r, src, p, s), []))
        out.print(f"{n:>7}  {r}  {src} → zhconv-rs {p} / opencc {s}   e.g. {ex}", markup=False)
