"""Sign/verify throughput of ``signing/`` beside bare signxml on the same ~5 KB document.

Run: ``.venv/bin/python bench/signing.py [--calls 100] [--rounds 15]``

Bare signxml is given every advantage the gateway has: the key loaded once, the certificate
pinned (``x509_cert=``), the same algorithms. The gateway's verify adds the hardened parse,
structure/algorithm checks, registration and time checks and the signed-header read; the
figure to watch is the verify overhead (target <= 15 %). It can be below zero: for the checked
shape the gateway skips two of signxml's own steps (a serialise/re-parse copy of the document
and an ``#<Id>`` XPath, see ``signing.verifier._CheckedTreeVerifier``), which pays for its
checks. Times are CPU time (other processes
on the machine count less); rounds alternate bare and gateway runs and the overhead is the
median of the per-round ratios, so a noisy neighbour hurts both sides of a ratio alike.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from lxml import etree
from signxml import XMLSigner, XMLVerifier
from signxml.algorithms import CanonicalizationMethod, DigestAlgorithm, SignatureConstructionMethod

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from adapters.hk import FORMAT  # noqa: E402
from adapters.hk.format import NS  # noqa: E402
from signing import SigningKey, TrustStore, sign, verify  # noqa: E402
from signing.devca import KeyType, create_ca, generate_key, issue_certificate  # noqa: E402
from signing.parties import GATEWAY_PARTY  # noqa: E402

HEADER = FORMAT.header


def document(sent_at: datetime, fields: int = 28) -> etree._Element:
    """An HK-CBCE-like CaseSubmission of about 5 KB unsigned."""
    q = f"{{{NS}}}"
    root = etree.Element(q + "CaseSubmission", nsmap={"cbce": NS}, Id="msg-1", SchemaVersion="1.0")
    header = etree.SubElement(root, q + "Header")
    for name, value in [
        ("MessageId", "3f2c9a4e-1d2b-4c5e-9f00-0123456789ab"),
        ("GatewayCaseRef", "GBA-ABCDEFGHIJ0123456789"),
        ("SentAt", sent_at.isoformat()),
        ("Sender", GATEWAY_PARTY),
        ("Recipient", "HK-TD"),
    ]:
        etree.SubElement(header, q + name).text = value
    applicant = etree.SubElement(root, q + "Applicant")
    etree.SubElement(applicant, q + "NameZh").text = "陳大文"
    etree.SubElement(applicant, q + "Identity", Type="HKID", IssuingPlace="HKG").text = "A123456(7)"
    particulars = etree.SubElement(root, q + "Particulars")
    for i in range(fields):
        field = etree.SubElement(particulars, q + "Field", Name=f"field{i:02d}")
        field.text = f"值 {i} — vehicle registration particulars line {i}"
    return root


def seconds_per_call(fn: Callable[[], object], calls: int) -> float:
    """CPU seconds per call of ``fn``: CPU time, so other processes on the box count less."""
    start = time.process_time()
    for _ in range(calls):
        fn()
    return (time.process_time() - start) / calls


def bench(key_type: KeyType, calls: int, rounds: int) -> dict[str, float]:
    now = datetime.now(UTC)
    ca_key, ca_cert = create_ca(now - timedelta(days=1), key_type=key_type)
    private = generate_key(key_type)
    cert = issue_certificate(
        ca_key,
        ca_cert,
        GATEWAY_PARTY,
        private.public_key(),
        now - timedelta(days=1),
        now + timedelta(days=30),
    )
    key = SigningKey(private, cert)
    trust = TrustStore()
    trust.register(GATEWAY_PARTY, cert)
    unsigned = document(now)

    def bare_sign() -> etree._Element:
        return XMLSigner(
            method=SignatureConstructionMethod.enveloped,
            signature_algorithm=key.signature_method,
            digest_algorithm=DigestAlgorithm.SHA256,
            c14n_algorithm=CanonicalizationMethod.EXCLUSIVE_XML_CANONICALIZATION_1_0,
        ).sign(unsigned, key=private, cert=[cert], reference_uri="#msg-1")

    data = etree.tostring(sign(unsigned, key), xml_declaration=True, encoding="UTF-8")
    verify(data, trust, HEADER)  # fails loudly if the bench document would not verify
    cases: dict[str, Callable[[], object]] = {
        "bare sign": bare_sign,
        "gateway sign": lambda: sign(unsigned, key),
        "bare verify": lambda: XMLVerifier().verify(data, x509_cert=cert),
        "gateway verify": lambda: verify(data, trust, HEADER, now=now),
    }
    for fn in cases.values():
        seconds_per_call(fn, 20)  # warm up
    times: dict[str, list[float]] = {name: [] for name in cases}
    for _ in range(rounds):
        for name, fn in cases.items():
            times[name].append(seconds_per_call(fn, calls))
    result = {name: 1 / statistics.median(ts) for name, ts in times.items()}
    # overhead from paired rounds (bare and gateway measured back to back), median of ratios
    for op in ("sign", "verify"):
        ratios = [g / b for g, b in zip(times[f"gateway {op}"], times[f"bare {op}"], strict=True)]
        result[f"{op} overhead"] = statistics.median(ratios) - 1
    result["document bytes"] = len(data)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=100, help="calls per measurement")
    parser.add_argument("--rounds", type=int, default=15)
    args = parser.parse_args()
    print(f"{'key':<12}{'operation':<16}{'ops/s':>10}")
    for label, key_type in (("RSA-2048", "rsa"), ("ECDSA P-256", "ec")):
        result = bench(key_type, args.calls, args.rounds)  # type: ignore[arg-type]
        for name in ("bare sign", "gateway sign", "bare verify", "gateway verify"):
            print(f"{label:<12}{name:<16}{result[name]:>10,.0f}")
        print(
            f"{label:<12}document {result['document bytes']:,.0f} bytes signed; "
            f"sign overhead {result['sign overhead']:+.1%}; "
            f"verify overhead {result['verify overhead']:+.1%} (target <= 15%)"
        )


if __name__ == "__main__":
    main()
