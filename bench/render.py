"""Throughput of the offline pipeline on one core: render-only, sign-only, full.

    .venv/bin/python bench/render.py [--seconds 3]

render-only: intake + mapping + conversion + agency document + XSD validation (no signature)
sign-only:   XML-DSig over an already rendered document (the gateway's signing API)
full:        the whole pipeline, application bytes in, signed document bytes out
Target: full / sign-only >= 0.6 for RSA-2048. Compare ratios measured in one run only.
Rates are per CPU-second of this process; sign and full alternate in rounds and the ratio is
the median of the per-round ratios.
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
from pathlib import Path

from lxml import etree

# bench/signing.py would shadow the signing package: the repository root goes first.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from gateway.devkit.examples import bundled_examples  # noqa: E402
from gateway.render.pipeline import Pipeline  # noqa: E402
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
