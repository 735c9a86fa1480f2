"""What each pipeline stage costs beside signing: alone, and when it alternates with signatures.

    .venv/bin/python bench/interference.py [--repeat 5]

bench/render.py's full pipeline is slower than render-only plus sign-only. This bench shows
where that goes: each stage runs alone on the ten bundled examples, then alternating with one
RSA-2048 signature per document, and prints the stage's own cost and the *penalty* (the
alternating time minus the stage alone minus signing alone), in µs per document, medians of
``--repeat`` runs. A small-footprint Python loop is the control: its penalty is what alternating
costs when the other side fits in the CPU cache beside signxml. One core; compare figures of one
run only.
"""

from __future__ import annotations

import argparse
import copy
import datetime as dt
import os
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path

from lxml import etree

# bench/signing.py would shadow the signing package: the repository root goes first.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(1, str(Path(__file__).resolve().parent))

from render import make_key  # noqa: E402

from gateway.devkit.examples import bundled_examples  # noqa: E402
from gateway.render.pipeline import Pipeline  # noqa: E402
from gateway.render.translate import translate  # noqa: E402
from signing import sign  # noqa: E402

ROUNDS = 100


def per_document(fn: Callable[[int], object], n: int) -> float:
    start = time.process_time()
    for _ in range(ROUNDS):
        for i in range(n):
            fn(i)
    return (time.process_time() - start) / (ROUNDS * n) * 1e6


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    pipeline = Pipeline()
    raw = [p.read_bytes() for p in bundled_examples()]
    apps = [pipeline.accept(r) for r in raw]
    fmts = [pipeline.formats[a.target_region] for a in apps]

    def translated(i: int):
        app = apps[i]
        item = pipeline.catalogue.get(app.item_code, app.item_version)
        mapping = pipeline.mappings.find(app.item_code, app.item_version, app.target_region)
        assert item is not None and mapping is not None
        now = dt.datetime.now(dt.UTC)
        return translate(app, item, mapping, message_id=str(uuid.uuid4()), sent_at=now)

    submissions = [translated(i).submission for i in range(len(apps))]
    roots = [f.render_submission(s) for f, s in zip(fmts, submissions, strict=True)]

    def control(_: int) -> int:
        return sum(k * k % 7 for k in range(1500))

    stages: dict[str, Callable[[int], object]] = {
        "control (small loop)": control,
        "intake": lambda i: pipeline.intake.parse(raw[i]),
        "translate": translated,
        "render document": lambda i: fmts[i].render_submission(submissions[i]),
        "XSD validation": lambda i: fmts[i].validate(roots[i]),
        "whole render-only": lambda i: pipeline.render(pipeline.accept(raw[i]), None).to_bytes(),
    }
    with tempfile.TemporaryDirectory() as tmp:
        key = make_key("rsa", Path(tmp))

        def signed(i: int) -> bytes:
            return etree.tostring(sign(copy.deepcopy(roots[i]), key))

        n = len(raw)
        print(f"{n} bundled examples, RSA-2048, one core; µs per document, median of {args.repeat}")
        print(f"{'stage':<24}{'alone':>8}{'penalty':>9}")
        for name, stage in stages.items():
            alone, penalty = [], []
            for _ in range(args.repeat):
                s = per_document(stage, n)
                g = per_document(signed, n)
                both = per_document(lambda i, stage=stage: (stage(i), signed(i)), n)
                alone.append(s)
                penalty.append(both - s - g)
            print(f"{name:<24}{statistics.median(alone):>8.0f}{statistics.median(penalty):>9.0f}")


if __name__ == "__main__":
    main()
