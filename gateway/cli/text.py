"""``gbagw text review``: engine disagreements no rule settled, for integration engineers.

Each text is converted by both engines (gateway.text.convert); a span where they differ and no
rule (glossary, gazetteer, keep list, phrases, glyph forms, accepted list, form-only) decides
goes out in the primary engine's form. Filing records each such span with its case
(``text_disagreements``); with no files this command lists those, largest groups first. With
files (or ``--corpus``) it converts their texts instead and lists what they would record.
Triage the largest groups into ``gateway/data/text/accepted-*.tsv`` or ``phrases-*.tsv``
(or the glossary / gazetteer), each line with its reason.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table

from gateway.cli.common import REJECTED, USAGE, JsonOpt, err, fail, out, read_input, read_json
from gateway.intake.problems import Problem

if TYPE_CHECKING:
    from gateway.store.text_review import DisagreementGroup

text_app = typer.Typer(no_args_is_help=True, help="Chinese text conversion: disagreements.")

CHUNK = 2000  # texts per engine call when reviewing files


def _texts_of(path: Path, as_json: bool) -> Iterator[tuple[str, str]]:
    """(where, text) of a file: plain text (one text per line, ``FILE:LINE``) or JSON: strings,
    TextPairs or cases with ``texts`` (what ``gbagw cases show --json`` prints), where is the
    pair's field path. Name fields are skipped: names follow the name rules, not the engines.

    Read like an application: at most ``GBAGW_MAX_INPUT_BYTES`` (more is refused before it is
    read whole), JSON by the intake's strict reader (depth, repeated keys)."""
    source = str(path)
    if path.suffix == ".json":
        document = read_json(source, as_json)
    else:
        data = read_input(source, as_json)
        try:
            raw = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            problem = f"{source}: not valid UTF-8: {exc.reason} at byte {exc.start}"
            fail([Problem("", problem)], as_json)
        for n, line in enumerate(raw.splitlines(), 1):
            if line.strip():
                yield f"{path}:{n}", line
        return

    def walk(v: Any, where: str) -> Iterator[tuple[str, str]]:
        # recursion is bounded: read_json refuses nesting deeper than the intake's limit
        if isinstance(v, str):
            yield where, v
        elif isinstance(v, dict) and isinstance(v.get("original"), str):
            if not str(v.get("path", "")).endswith("name"):
                yield str(v.get("path") or where), v["original"]
        elif isinstance(v, dict):
            for k, x in v.items():
                yield from walk(x, f"{where}.{k}")
        elif isinstance(v, list):
            for i, x in enumerate(v):
                yield from walk(x, f"{where}[{i}]")

    yield from walk(document, "")


def _read(files: list[Path], as_json: bool) -> list[tuple[str, str]]:
    found: list[tuple[str, str]] = []
    for f in files:
        found += _texts_of(f, as_json)
    return found


def _review_texts(
    texts: list[tuple[str, str]], regions: list[str], limit: int
) -> tuple[list[DisagreementGroup], dict[str, int]]:
    """Convert ``texts`` per region: the open groups (largest first) and what decided texts."""
    from gateway.store.text_review import EXAMPLES, DisagreementGroup, Example
    from gateway.text.convert import check_text, convert_decided
    from gateway.text.review import CONTEXT, is_personal

    problems = [f"{w}: {p}" for w, t in texts if (p := check_text(t)) is not None]
    if problems:
        for line in problems:
            err.print(f"error {line}", markup=False)
        raise typer.Exit(REJECTED)
    groups: dict[tuple[str, str, str, str], DisagreementGroup] = {}
    decided: dict[str, int] = {}
    for region in regions:
        for start in range(0, len(texts), CHUNK):
            chunk = texts[start : start + CHUNK]
            done = convert_decided([t for _, t in chunk], region)  # type: ignore[arg-type]
            for (where, original), c in zip(chunk, done, strict=True):
                decided[c.decided_by] = decided.get(c.decided_by, 0) + 1
                for d in c.open:
                    key = (region, d.source, d.primary, d.secondary)
                    group = groups.setdefault(key, DisagreementGroup(*key, count=0, cases=0))
                    group.count += 1
                    a, b = max(0, d.position - CONTEXT), d.position + len(d.source) + CONTEXT
                    context = None if is_personal(where) else original[a:b]
                    if len(group.examples) < EXAMPLES:
                        group.examples.append(Example(None, where, context))
    ranked = sorted(groups.values(), key=lambda g: (-g.count, g.region, g.source))
    return ranked[:limit], decided


def _stored(region: str | None, limit: int) -> list[DisagreementGroup]:
    from gateway.cli.service import open_runtime
    from gateway.store import transaction
    from gateway.store.text_review import list_disagreement_groups

    runtime = open_runtime()
    try:
        with transaction(runtime.sessions, read_only=True) as session:
            return list_disagreement_groups(session, region=region, limit=limit)
    finally:
        runtime.close()


@text_app.command("review")
def review(
    files: Annotated[
        list[Path] | None,
        typer.Argument(
            help="Texts to convert instead of the store: .txt (one per line) or .json "
            "(TextPairs, cases).",
            metavar="FILE",
        ),
    ] = None,
    region: Annotated[str, typer.Option("--region", help="HK, MO or both.")] = "both",
    corpus: Annotated[
        bool, typer.Option("--corpus", help="Convert jieba's dictionary (~350k words).")
    ] = False,
    limit: Annotated[int, typer.Option("--limit", min=1, max=10_000)] = 100,
    as_json: JsonOpt = False,
) -> None:
    """Open disagreements between zhconv-rs and OpenCC, largest groups first, with examples:
    those recorded at filing, or those of the texts in FILEs."""
    regions = ["HK", "MO"] if region.lower() == "both" else [region.upper()]
    if any(r not in ("HK", "MO") for r in regions):
        err.print(f"error --region must be HK, MO or both, not {region}", markup=False)
        raise typer.Exit(USAGE)
    decided: dict[str, int] | None = None
    if files or corpus:
        texts = _read(files or [], as_json)
        if corpus:
            from gateway.text.corpus import jieba_words

            try:
                texts += [("jieba", w) for w in jieba_words()]
            except ImportError:
                err.print("error --corpus needs jieba (pip install '.[test]')", markup=False)
                raise typer.Exit(USAGE) from None
        groups, decided = _review_texts(texts, regions, limit)
        title = f"{len(texts)} texts × {len(regions)} region(s): {len(groups)} open groups"
    else:
        groups = _stored(None if len(regions) == 2 else regions[0], limit)
        title = f"{len(groups)} open disagreement groups recorded at filing"
    if as_json:
        records = [dataclasses.asdict(g) for g in groups]
        out.out(json.dumps(records, ensure_ascii=False), highlight=False)
        return
    table = Table(title=title)
    for column in ("region", "source", "sent (zhconv-rs)", "OpenCC", "count", "cases", "e.g."):
        table.add_column(column)
    for g in groups:
        examples = " | ".join(
            " ".join(x for x in (e.case_ref, e.path, e.context) if x) for e in g.examples
        )
        table.add_row(
            g.region, g.source, g.primary, g.secondary, str(g.count), str(g.cases), examples
        )
    out.print(table)
    if decided is not None:
        summary = ", ".join(f"{k} {v}" for k, v in sorted(decided.items()))
        out.print(f"decided by: {summary}", markup=False)
