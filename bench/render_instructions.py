"""Render-only cost in instructions per document (cachegrind), this tree vs before the move.

    .venv/bin/python bench/render_instructions.py [--base 7c72153] [--passes 10]

Wall-clock figures of bench/render.py swing ±20 % on a small shared machine; instruction counts
under ``valgrind --tool=cachegrind`` do not (the interpreter runs with PYTHONHASHSEED=0 and a
fixed message id and sending time). For each tree — the working tree and a temporary git
worktree of ``--base`` (7c72153: the last commit before the reorganisation), both run with this
checkout's .venv — a small driver loads the pipeline, files every bundled example once as a
warm-up, then runs ``--passes`` more passes over them doing nothing (idle), accept only
(intake), or accept + render without a key (mapping + text conversion + agency document + XSD
validation). Import, set-up and warm-up cancel in the differences:

    accept = (I(accept) - I(idle)) / (passes · examples)
    render = (I(render) - I(accept)) / (passes · examples)

It prints instructions per document for accept, render and their total for both trees and the
ratio now/base. Six valgrind runs, two at a time: a few minutes. Issues 8 and 12 ask that
render-only be no worse than before the move.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import os
import re
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PYTHON = ROOT / ".venv" / "bin" / "python"

# One driver for both layouts: before the move the modules lived flat in gateway/.
DRIVER = textwrap.dedent(
    """
    import datetime as dt
    import sys

    root, mode, passes = sys.argv[1], sys.argv[2], int(sys.argv[3])
    sys.path.insert(0, root)
    try:
        from gateway.devkit.examples import bundled_examples
        from gateway.render.pipeline import Pipeline
    except ImportError:  # the tree before the move
        from gateway.examples import bundled_examples
        from gateway.pipeline import Pipeline

    assert Pipeline.__module__.split(".")[0] == "gateway"
    assert sys.modules["gateway"].__file__.startswith(root), sys.modules["gateway"].__file__
    SENT_AT = dt.datetime(2026, 11, 27, 2, 0, tzinfo=dt.UTC)
    MESSAGE_ID = "00000000-0000-4000-8000-000000000000"
    pipeline = Pipeline()
    raw = [p.read_bytes() for p in bundled_examples()]

    def accept_all():
        return [pipeline.accept(r) for r in raw]

    def render_all():
        for app in accept_all():
            pipeline.render(app, None, message_id=MESSAGE_ID, sent_at=SENT_AT).to_bytes()

    render_all()  # warm-up: lazy tables, caches, first-call costs
    work = {"idle": lambda: None, "accept": accept_all, "render": render_all}[mode]
    for _ in range(passes):
        work()
    print(len(raw))
    """
)

I_REFS = re.compile(r"I\s+refs:\s+([\d,]+)")


def instructions(driver: Path, tree: Path, mode: str, passes: int) -> tuple[int, int]:
    """(instructions executed, number of examples) for one driver run under cachegrind."""
    with tempfile.TemporaryDirectory() as tmp:
        proc = subprocess.run(
            [
                "valgrind",
                "--tool=cachegrind",
                "--cache-sim=no",
                "--branch-sim=no",
                f"--cachegrind-out-file={tmp}/cg.out",
                str(PYTHON),
                str(driver),
                str(tree),
                mode,
                str(passes),
            ],
            capture_output=True,
            text=True,
            env={**os.environ, "PYTHONHASHSEED": "0", "PYTHONDONTWRITEBYTECODE": "1"},
            cwd=tree,
        )
    if proc.returncode != 0:
        sys.exit(f"driver failed in {tree} ({mode}):\n{proc.stderr[-3000:]}")
    match = I_REFS.search(proc.stderr)
    assert match, proc.stderr[-2000:]
    return int(match.group(1).replace(",", "")), int(proc.stdout.split()[-1])


def measure(driver: Path, tree: Path, passes: int, pool) -> dict[str, float]:
    runs = {
        m: pool.submit(instructions, driver, tree, m, passes) for m in ("idle", "accept", "render")
    }
    counts = {m: f.result() for m, f in runs.items()}
    docs = passes * counts["idle"][1]
    accept = (counts["accept"][0] - counts["idle"][0]) / docs
    render = (counts["render"][0] - counts["accept"][0]) / docs
    return {"accept": accept, "render": render, "total": accept + render}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", default="7c72153", help="commit before the move")
    parser.add_argument("--passes", type=int, default=30, help="passes over the examples")
    parser.add_argument("--no-base", action="store_true", help="measure this tree only")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="render-instructions-") as tmp:
        base = Path(tmp) / "base"
        subprocess.run(
            ["git", "-C", str(ROOT), "worktree", "add", "--detach", "-q", str(base), args.base],
            check=True,
        )
        try:
            driver = Path(tmp) / "driver.py"
            driver.write_text(DRIVER, "utf-8")
            with concurrent.futures.ThreadPoolExecutor(max_workers=2) as pool:
                figures = (
                    {} if args.no_base else {args.base: measure(driver, base, args.passes, pool)}
                )
                figures["this tree"] = measure(driver, ROOT, args.passes, pool)
        finally:
            subprocess.run(
                ["git", "-C", str(ROOT), "worktree", "remove", "--force", str(base)], check=True
            )
    print(f"instructions per document, {args.passes} passes over the bundled examples")
    print(f"{'':<12}{'accept':>12}{'render':>12}{'total':>12}")
    for name, f in figures.items():
        print(
            f"{name:<12}" + "".join(f"{f[k] / 1e3:>11,.0f}K" for k in ("accept", "render", "total"))
        )
    if args.no_base:
        return
    old, new = figures[args.base], figures["this tree"]
    print(
        f"{'now / base':<12}"
        + "".join(f"{new[k] / old[k]:>12.3f}" for k in ("accept", "render", "total"))
    )


if __name__ == "__main__":
    main()
