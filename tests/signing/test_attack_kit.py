"""The attack kit: every signature attack × the four document kinds, through ``gbagw verify``.

Each variant is built from a real document (a gateway CBCE ``CaseSubmission`` and SIP
``PedidoProcesso`` rendered by the pipeline; an agency ``StatusNotice`` and ``EstadoProcesso``
rendered by the adapters and signed with the agencies' keys). All variants of one kind go to one
``gbagw verify --json`` process (several files, one JSON line each) and then to one text-mode
process: the verdict and reason code must be the expected ones, every line one line, and no
traceback anywhere. Finally one ``gbagw verify`` on a 100 MB hostile file must stay small.
"""

from __future__ import annotations

import copy
import json
import re
import subprocess
import sys
from base64 import b64encode
from datetime import UTC, datetime, timedelta, timezone

import pytest
from cryptography.hazmat.primitives.serialization import Encoding
from lxml import etree
from signxml.algorithms import CanonicalizationMethod, DigestAlgorithm, SignatureMethod

from signing import SigningKey, sign
from signing.devca import generate_key, self_signed_certificate

HKT = timezone(timedelta(hours=8))
DS = "{http://www.w3.org/2000/09/xmldsig#}"
ACCEPTED = "accepted"
KINDS = ("cbce-submission", "sip-pedido", "cbce-status", "sip-estado")
#: a registered party other than each kind's signer, and one to expect instead (--from)
OTHER_PARTY = {"GD-GBA-GW": "HK-CR", "HK-TD": "HK-CR", "MO-DSAT": "MO-DSI"}


def xml(root: etree._Element) -> bytes:
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


def parsed(data: bytes) -> etree._Element:
    return etree.fromstring(data)


class Builder:
    """Builds the variants of one document kind."""

    def __init__(self, k, kind):
        self.k = k
        self.kind = kind
        self.signed = k.signed(kind.name)
        self.key = k.key(kind.party)

    def tree(self) -> etree._Element:
        return parsed(self.signed)

    def header(self, root: etree._Element) -> etree._Element:
        return self.kind.header_element(root).getparent()

    # --- wrapping and references --------------------------------------------------------------

    def wrapped_under_new_root(self) -> bytes:
        evil = self.kind.root()
        evil.set("Id", "evil-root")
        evil.append(self.tree())
        return xml(evil)

    def reference_into_wrapper(self) -> bytes:
        original = self.tree()
        signature = original[-1]
        original.remove(signature)
        evil = self.kind.root()
        evil.set("Id", "evil-root")
        extension = etree.SubElement(evil, f"{{{etree.QName(evil).namespace}}}Extension")
        extension.append(original)
        evil.append(signature)
        return xml(evil)

    def signature_in_child(self) -> bytes:
        root = self.tree()
        self.header(root).append(root[-1])
        return xml(root)

    def second_signature(self) -> bytes:
        root = self.tree()
        self.header(root).append(copy.deepcopy(root[-1]))
        return xml(root)

    def signature_removed(self) -> bytes:
        root = self.tree()
        root.remove(root[-1])
        return xml(root)

    def reference_to_another_id(self) -> bytes:
        root = self.kind.root()
        self.header(root).set("Id", "hdr")
        return self.k.lax_sign(root, self.key, SignatureMethod.RSA_SHA256, reference_uri="#hdr")

    def two_references(self) -> bytes:
        root = self.kind.root()
        self.header(root).set("Id", "hdr")
        uris = [f"#{root.get('Id')}", "#hdr"]
        return self.k.lax_sign(root, self.key, SignatureMethod.RSA_SHA256, reference_uri=uris)

    def external_reference(self) -> bytes:
        return re.sub(rb'URI="#[^"]*"', b'URI="https://evil.example/doc.xml"', self.signed)

    def duplicate_id(self) -> bytes:
        root = self.tree()
        self.header(root).set("Id", root.get("Id"))
        return xml(root)

    def duplicate_namespaced_id(self) -> bytes:
        root = self.tree()
        self.header(root).set("{urn:example:evil}Id", root.get("Id"))
        return xml(root)

    # --- algorithms ---------------------------------------------------------------------------

    def sha1_signature(self) -> bytes:
        return self.k.lax_sign(
            self.kind.root(), self.key, SignatureMethod.RSA_SHA1, DigestAlgorithm.SHA1
        )

    def sha1_digest(self) -> bytes:
        return self.k.lax_sign(
            self.kind.root(), self.key, SignatureMethod.RSA_SHA256, DigestAlgorithm.SHA1
        )

    def hmac(self) -> bytes:
        return self.k.lax_sign(self.kind.root(), b"a shared secret", SignatureMethod.HMAC_SHA256)

    def md5_uri(self) -> bytes:
        forged = self.signed.replace(b"xmlenc#sha256", b"xmldsig-more#md5")
        assert forged != self.signed
        return forged

    def inclusive_c14n(self) -> bytes:
        return self.k.lax_sign(
            self.kind.root(),
            self.key,
            SignatureMethod.RSA_SHA256,
            c14n=CanonicalizationMethod.CANONICAL_XML_1_0,
        )

    def xpath_transform(self) -> bytes:
        root = self.tree()
        transforms = root[-1].find(f"{DS}SignedInfo/{DS}Reference/{DS}Transforms")
        etree.SubElement(
            transforms, f"{DS}Transform", Algorithm="http://www.w3.org/TR/1999/REC-xpath-19991116"
        )
        return xml(root)

    # --- who signed ---------------------------------------------------------------------------

    def self_signed(self) -> bytes:
        private = generate_key("rsa")
        now = datetime.now(UTC)
        certificate = self_signed_certificate(
            self.kind.party, private, now - timedelta(days=1), now + timedelta(days=30)
        )
        return xml(sign(self.kind.root(), SigningKey(private, certificate)))

    def another_partys_certificate(self) -> bytes:
        return self.k.sign(self.kind.root(), OTHER_PARTY[self.kind.party])

    def expired_certificate(self) -> bytes:
        return self.k.sign(self.kind.root(), "HK-EXPIRED")

    def not_yet_valid_certificate(self) -> bytes:
        return self.k.sign(self.kind.root(), "HK-FUTURE")

    def key_info_swapped(self) -> bytes:
        """The certificate in KeyInfo replaced by another registered party's."""
        other = self.k.key(OTHER_PARTY[self.kind.party]).certificate
        root = self.tree()
        element = root[-1].find(f"{DS}KeyInfo/{DS}X509Data/{DS}X509Certificate")
        element.text = b64encode(other.public_bytes(Encoding.DER)).decode()
        return xml(root)

    def key_info_empty(self) -> bytes:
        root = self.tree()
        key_info = root[-1].find(f"{DS}KeyInfo")
        for child in list(key_info):
            key_info.remove(child)
        return xml(root)

    def retrieval_method(self) -> bytes:
        root = self.tree()
        etree.SubElement(
            root[-1].find(f"{DS}KeyInfo"), f"{DS}RetrievalMethod", URI="https://evil.example/c"
        )
        return xml(root)

    # --- content and time ---------------------------------------------------------------------

    def value_edited(self) -> bytes:
        root = self.tree()
        element = self.kind.header_element(root, "message_id")
        element.text = element.text[:-1] + ("0" if element.text[-1] != "0" else "1")
        return xml(root)

    def signature_value_tampered(self) -> bytes:
        root = self.tree()
        value = root[-1].find(f"{DS}SignatureValue")
        value.text = ("A" if value.text[0] != "A" else "B") + value.text[1:]
        return xml(root)

    def signature_value_empty(self) -> bytes:
        root = self.tree()
        root[-1].find(f"{DS}SignatureValue").text = ""
        return xml(root)

    def digest_value_empty(self) -> bytes:
        root = self.tree()
        root[-1].find(f"{DS}SignedInfo/{DS}Reference/{DS}DigestValue").text = None
        return xml(root)

    def signed_info_not_first(self) -> bytes:
        root = self.tree()
        signature = root[-1]
        signature.append(signature.find(f"{DS}SignedInfo"))
        return xml(root)

    def sent_in_future(self) -> bytes:
        root = self.kind.root()
        later = datetime.now(UTC) + timedelta(hours=2)
        self.kind.header_element(root, "sent_at").text = later.astimezone(HKT).isoformat()
        return self.k.sign(root, self.kind.party)

    # --- parser tricks ------------------------------------------------------------------------

    def xxe(self) -> bytes:
        doctype = b'<!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
        return self.signed.replace(b"?>", b"?>" + doctype, 1)

    def billion_laughs(self) -> bytes:
        levels = "".join(f'<!ENTITY l{i} "{f"&l{i - 1};" * 10}">' for i in range(1, 10))
        doctype = f'<!DOCTYPE r [<!ENTITY l0 "lol">{levels}]>'.encode()
        return self.signed.replace(b"?>", b"?>" + doctype, 1)

    def external_dtd(self) -> bytes:
        doctype = b'<!DOCTYPE r SYSTEM "http://127.0.0.1:9/evil.dtd">'
        return self.signed.replace(b"?>", b"?>" + doctype, 1)

    def xinclude(self) -> bytes:
        root = self.tree()
        include = etree.Element("{http://www.w3.org/2001/XInclude}include", href="/etc/passwd")
        self.header(root).append(include)
        return xml(root)

    def processing_instruction(self) -> bytes:
        root = self.tree()
        root[0].addprevious(etree.ProcessingInstruction("evil", "run"))
        return xml(root)

    def utf16_with_bom(self) -> bytes:
        return self.signed.decode("utf-8").encode("utf-16")

    def utf16_declared(self) -> bytes:
        text = self.signed.decode("utf-8").replace("encoding='UTF-8'", "encoding='UTF-16'")
        return text.encode("utf-16-le")

    def latin1_declared(self) -> bytes:
        forged = self.signed.replace(b"encoding='UTF-8'", b"encoding='ISO-8859-1'", 1)
        assert forged != self.signed
        return forged

    def oversize(self) -> bytes:
        return self.signed + b"\n" * (1 << 20)

    # --- accepted controls --------------------------------------------------------------------

    def original(self) -> bytes:
        return self.signed

    def utf8_bom(self) -> bytes:
        return b"\xef\xbb\xbf" + self.signed

    def comments(self) -> bytes:
        root = self.tree()
        element = self.kind.header_element(root, "message_id")
        text = element.text
        element.text = text[:5]
        comment = etree.Comment(" toolkit ")
        comment.tail = text[5:]
        element.append(comment)
        root.addprevious(etree.Comment(" before "))
        return etree.tostring(root.getroottree(), xml_declaration=True, encoding="UTF-8")


#: (variant, expected verdict: "accepted" or the reason code)
VARIANTS: list[tuple[str, str]] = [
    ("original", ACCEPTED),
    ("utf8_bom", ACCEPTED),
    ("comments", ACCEPTED),
    ("wrapped_under_new_root", "SignedElementWrapped"),
    ("reference_into_wrapper", "ReferenceMismatch"),
    ("signature_in_child", "SignatureMisplaced"),
    ("second_signature", "SignatureCountError"),
    ("signature_removed", "SignatureCountError"),
    ("reference_to_another_id", "ReferenceMismatch"),
    ("two_references", "ReferenceMismatch"),
    ("external_reference", "ExternalReferenceForbidden"),
    ("duplicate_id", "DuplicateId"),
    ("duplicate_namespaced_id", "DuplicateId"),
    ("sha1_signature", "WeakAlgorithm"),
    ("sha1_digest", "WeakAlgorithm"),
    ("hmac", "WeakAlgorithm"),
    ("md5_uri", "WeakAlgorithm"),
    ("inclusive_c14n", "AlgorithmNotAllowed"),
    ("xpath_transform", "AlgorithmNotAllowed"),
    ("self_signed", "CertificateNotRegistered"),
    ("another_partys_certificate", "CertificateOfAnotherParty"),
    ("expired_certificate", "CertificateExpired"),
    ("not_yet_valid_certificate", "CertificateNotYetValid"),
    ("key_info_swapped", "SignatureInvalid"),
    ("key_info_empty", "SignatureStructureError"),
    ("retrieval_method", "ExternalReferenceForbidden"),
    ("value_edited", "DigestMismatch"),
    ("signature_value_tampered", "SignatureInvalid"),
    ("signature_value_empty", "SignatureStructureError"),
    ("digest_value_empty", "SignatureStructureError"),
    ("signed_info_not_first", "SignatureStructureError"),
    ("sent_in_future", "SentAtInFuture"),
    ("xxe", "DtdForbidden"),
    ("billion_laughs", "DtdForbidden"),
    ("external_dtd", "DtdForbidden"),
    ("xinclude", "ExternalReferenceForbidden"),
    ("processing_instruction", "ProcessingInstructionForbidden"),
    ("utf16_with_bom", "EncodingForbidden"),
    ("utf16_declared", "EncodingForbidden"),
    ("latin1_declared", "EncodingForbidden"),
    ("oversize", "DocumentTooLarge"),
]


def test_the_kit_is_big_enough():
    attacks = [name for name, verdict in VARIANTS if verdict != ACCEPTED]
    assert len(attacks) >= 21 and len(set(attacks)) == len(attacks)
    assert len({verdict for _, verdict in VARIANTS}) >= 18


@pytest.mark.parametrize("kind", KINDS)
def test_attack_kit(cli_kit, kind, tmp_path):
    builder = Builder(cli_kit, cli_kit.kinds[kind])
    files: dict[str, str] = {}
    for name, expected in VARIANTS:
        data = getattr(builder, name)()
        path = tmp_path / f"{kind}--{name}.xml"
        path.write_bytes(data)
        files[str(path)] = expected

    done = cli_kit.gbagw("--json", *files, timeout=300)
    assert "Traceback" not in done.stdout + done.stderr
    assert done.stderr == ""
    records = [json.loads(line) for line in done.stdout.splitlines()]
    got = {
        r["file"]: r["verdict"] if r["verdict"] == ACCEPTED else r["reason_code"] for r in records
    }
    assert got == files  # same files, same order of magnitude: every verdict as expected
    assert done.returncode == 1
    for record in records:
        if record["verdict"] == ACCEPTED:
            assert record["signer"] == cli_kit.kinds[kind].party
            assert record["case_ref"] and record["case_ref"].startswith("GBA-")
        else:
            assert record["reason"] and record["signer"] is None

    text = cli_kit.gbagw(*files, timeout=300)
    assert "Traceback" not in text.stdout + text.stderr and text.stderr == ""
    lines = text.stdout.splitlines()
    assert len(lines) == len(files)
    for line, (path, expected) in zip(lines, files.items(), strict=True):
        prefix = f"ACCEPTED {path}: " if expected == ACCEPTED else f"REJECTED {expected}: {path}: "
        assert line.startswith(prefix), line


@pytest.mark.parametrize("kind", KINDS)
def test_wrong_expected_sender(cli_kit, kind):
    kind_ = cli_kit.kinds[kind]
    path = cli_kit.write(f"wrong-sender-{kind}.xml", cli_kit.signed(kind))
    done = cli_kit.gbagw("--from", OTHER_PARTY[kind_.party], str(path))
    assert done.returncode == 1 and done.stderr == ""
    (line,) = done.stdout.splitlines()
    assert line.startswith(f"REJECTED WrongSender: {path}: ")
    assert cli_kit.gbagw("--from", kind_.party, str(path)).returncode == 0


def test_memory_on_a_100_mb_hostile_file(cli_kit, tmp_path):
    """The document is read bounded (limit + 1 bytes), so 100 MB cost what 1 MB does."""
    hostile = tmp_path / "hostile.xml"
    with hostile.open("wb") as out:
        out.write(b'<?xml version="1.0"?><!DOCTYPE a [<!ENTITY x "y">]><a>')
        chunk = b"&x;" * (1 << 20)
        for _ in range(100 * (1 << 20) // len(chunk)):
            out.write(chunk)
        out.write(b"</a>")
    assert hostile.stat().st_size > 100_000_000
    probe = (
        "import json, resource, subprocess, sys\n"
        "done = subprocess.run(sys.argv[1:], capture_output=True, text=True)\n"
        "peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss\n"
        "print(json.dumps([done.returncode, peak, done.stdout, done.stderr]))\n"
    )
    args = [cli_kit.gbagw_path, "verify", "--keys", str(cli_kit.keys.path), str(hostile)]
    done = subprocess.run(
        [sys.executable, "-c", probe, *args], capture_output=True, text=True, check=True
    )
    code, peak_kib, stdout, stderr = json.loads(done.stdout)
    assert code == 1, done.stdout
    assert "REJECTED DocumentTooLarge" in stdout and "Traceback" not in stdout + stderr
    assert int(peak_kib) < 200 * 1024, f"peak RSS {int(peak_kib) // 1024} MiB"
