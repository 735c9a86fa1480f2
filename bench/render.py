"""Throughput of the offline pipeline on one core: stages, render-only, sign-only, full.

    .venv/bin/python bench/render.py [--seconds 3] [--rounds 6]

stages:      µs of CPU per document for accept (intake) and translate (mapping + conversion),
             and translate again with the conversion replaced by one bare OpenCC ``s2hk`` call
             per case (the single-engine design before issue #12): the difference is what the
             second engine and the rules cost, measured in the same run
render-only: intake + mapping + conversion + agency document + XSD validation (no signature)
sign-only:   XML-DSig over an already rendered document (the gateway's signing API)
full:        the whole pipeline, application bytes in, signed document bytes out
Target: full / sign-only >= 0.6 for RSA-2048. Compare figures measured in one run only: the
stages alternate in rounds (a noisy neighbour hurts each alike) and each is the median round.
Rates are per CPU-second of this process; sign and full alternate in rounds and the ratio is
the median of the per-round ratios.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import datetime as dt
import os
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

from lxml import etree

# bench/signing.py would shadow the signing package: the repository root goes first.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from gateway.devkit.examples import bundled_examples  # noqa: E402
from gateway.render.pipeline import Pipeline  # noqa: E402
from gateway.render.translate import translate  # noqa: E402
from gateway.text import convert  # noqa: E402
from signing import SigningKey, sign  # noqa: E402
from signing.devca import (  # noqa: E402
    create_ca,
    generate_key,
    issue_certificate,
    write_certificate,
    write_private_key,
)
from signing.parties import GATEWAY_PARTY  # noqa: E402


def rate(fn, items, seconds: float) -> float:
    """Documents per CPU-second of this process: other load on the machine counts less."""
    n, start = 0, time.process_time()
    while (elapsed := time.process_time() - start) < seconds:
        for item in items:
            fn(item)
        n += len(items)
    return n / elapsed


def per_document(fn: Callable[[object], object], items: list, seconds: float) -> float:
    """µs of CPU per item."""
    return 1e6 / rate(fn, items, seconds)


@contextlib.contextmanager
def bare_opencc() -> Iterator[None]:
    """Conversion as one bare ``s2hk`` call per case, no second engine and no rules."""
    s2hk = convert._converter("s2hk")
    real = convert.convert_decided

    def one_engine(texts, region):
        out = s2hk.convert(convert.SEPARATOR.join(texts)).split(convert.SEPARATOR)
        return [convert.Converted(t, "opencc") for t in out]

    convert.convert_decided = one_engine  # type: ignore[assignment]
    try:
        yield
    finally:
        convert.convert_decided = real


def stages(pipeline: Pipeline, raw: list[bytes], seconds: float, rounds: int) -> None:
    apps = [pipeline.accept(r) for r in raw]

    def translated(app) -> object:
        item = pipeline.catalogue.get(app.item_code, app.item_version)
        mapping = pipeline.mappings.find(app.item_code, app.item_version, app.target_region)
        now = dt.datetime.now(dt.UTC)
        return translate(app, item, mapping, message_id=str(uuid.uuid4()), sent_at=now)

    def bare(app) -> object:
        with bare_opencc():
            return translated(app)

    measures: dict[str, Callable[[], float]] = {
        "accept": lambda: per_document(pipeline.accept, raw, seconds / rounds),
        "translate": lambda: per_document(translated, apps, seconds / rounds),
        "translate, bare OpenCC": lambda: per_document(bare, apps, seconds / rounds),
    }
    seen: dict[str, list[float]] = {name: [] for name in measures}
    for _ in range(rounds):
        for name, measure in measures.items():
            seen[name].append(measure())
    figures = {name: statistics.median(v) for name, v in seen.items()}
    for name, us in figures.items():
        print(f"{name:<24}{us:>10.1f} µs/document")
    extra = figures["translate"] - figures["translate, bare OpenCC"]
    print(f"{'two engines + rules':<24}{extra:>10.1f} µs/document over bare OpenCC")


def make_key(kind: str, directory: Path) -> SigningKey:
    now = dt.datetime.now(dt.UTC)
    ca_key, ca_cert = create_ca(now, key_type=kind)
    key = generate_key(kind)
    cert = issue_certificate(
        ca_key, ca_cert, GATEWAY_PARTY, key.public_key(), now, now + dt.timedelta(days=1)
    )
    key_path, cert_path = directory / f"{kind}.key.pem", directory / f"{kind}.cert.pem"
    write_private_key(key_path, key)
    write_certificate(cert_path, cert)
    return SigningKey.load(key_path, cert_path)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=6.0, help="CPU seconds per measure")
    parser.add_argument("--rounds", type=int, default=6)
    args = parser.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})  # one core
    pipeline = Pipeline()
    raw = [p.read_bytes() for p in bundled_examples()]
    apps = [pipeline.accept(r) for r in raw]
    unsigned = [pipeline.render(a, None).document for a in apps]
    size = sum(len(etree.tostring(d)) for d in unsigned) / len(unsigned)
    print(f"{len(raw)} bundled examples, mean unsigned document {size:.0f} bytes, one core")
    stages(pipeline, raw, args.seconds, args.rounds)

    def render_only(data: bytes) -> bytes:
        return pipeline.render(pipeline.accept(data), None).to_bytes()

    r_render = rate(render_only, raw, args.seconds)
    print(f"{'render-only':<24}{r_render:>10.0f} documents/s")
    with tempfile.TemporaryDirectory() as tmp:
        for kind, label in (("rsa", "RSA-2048"), ("ec", "ECDSA P-256")):
            key = make_key(kind, Path(tmp))

            def sign_only(doc: etree._Element, key: SigningKey = key) -> bytes:
                return etree.tostring(sign(copy.deepcopy(doc), key))

            def full(data: bytes, key: SigningKey = key) -> bytes:
                return pipeline.render(pipeline.accept(data), key).to_bytes()

            # Alternate short rounds so a noisy neighbour hurts both sides of the ratio alike.
            signs, fulls = [], []
            for _ in range(args.rounds):
                signs.append(rate(sign_only, unsigned, args.seconds / args.rounds))
                fulls.append(rate(full, raw, args.seconds / args.rounds))
            r_sign, r_full = statistics.median(signs), statistics.median(fulls)
            ratio = statistics.median(f / s for f, s in zip(fulls, signs, strict=True))
            print(f"{'sign-only ' + label:<24}{r_sign:>10.0f} documents/s")
            print(f"{'full ' + label:<24}{r_full:>10.0f} documents/s")
            print(f"{'ratio full/sign ' + label:<24}{ratio:>10.2f}")


if __name__ == "__main__":
    main()
