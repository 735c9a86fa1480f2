"""Fixtures for signing/: real keys on a fixed clock, small HK- and Macao-like documents.

Everything a test needs comes through the ``kit`` fixture (not imports), so the tests run
under any pytest import mode. The documents imitate the specs' shapes (root ``Id`` and
``SchemaVersion`` / ``VersaoEsquema``, header children, some content); the real renderers live
in ``adapters/`` and are imported only by the ``cli_kit`` fixture, which runs the real
``gbagw verify`` on real documents.
"""

from __future__ import annotations

import copy
import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from lxml import etree
from signxml import XMLSigner
from signxml.algorithms import CanonicalizationMethod, DigestAlgorithm, SignatureMethod

from signing import KeyDirectory, SigningKey, Verified, sign, verify
from signing.devca import generate_key, issue_certificate, self_signed_certificate
from signing.header import HeaderSpec

HK_NS = "urn:hk-gov:cbce:1.0"
MO_NS = "urn:mo-gov:sip:1.0"
DS_NS = "http://www.w3.org/2000/09/xmldsig#"
_PEM = serialization.Encoding.PEM
HKT = timezone(timedelta(hours=8))
#: when the test key directory was created; every certificate is valid for 730 days from here
T0 = datetime(2026, 3, 2, 0, 0, tzinfo=UTC)
SENT = T0 + timedelta(days=1)
NOW = SENT + timedelta(minutes=1)


class SigningKit:
    """Keys, trust, clock and document builders shared by the signing tests."""

    hk_ns = HK_NS
    mo_ns = MO_NS
    ds_ns = DS_NS
    t0 = T0
    sent = SENT
    now = NOW
    hk_header = HeaderSpec(
        f"{{{HK_NS}}}Header/{{{HK_NS}}}Sender",
        f"{{{HK_NS}}}Header/{{{HK_NS}}}MessageId",
        f"{{{HK_NS}}}Header/{{{HK_NS}}}SentAt",
    )
    mo_header = HeaderSpec(
        f"{{{MO_NS}}}Cabecalho/{{{MO_NS}}}Remetente",
        f"{{{MO_NS}}}Cabecalho/{{{MO_NS}}}IdMensagem",
        f"{{{MO_NS}}}Cabecalho/{{{MO_NS}}}DataHoraEnvio",
    )

    def __init__(self, keydir: KeyDirectory, ec_keydir: KeyDirectory):
        self.keydir = keydir
        self.ec_keydir = ec_keydir
        self.trust = keydir.trust_store()
        for registration in ec_keydir.trust_store():
            if registration.party != "GD-GBA-GW":
                self.trust.add(registration)
        self._keys: dict[tuple[str, str], SigningKey] = {}

    # --- keys -----------------------------------------------------------------------------

    def key(self, party: str, key_type: str = "rsa") -> SigningKey:
        """The party's signing key from the RSA directory, or the EC one (HK-TD, MO-DSAT)."""
        if (party, key_type) not in self._keys:
            source = self.keydir if key_type == "rsa" else self.ec_keydir
            self._keys[party, key_type] = source.signing_key(party, now=NOW)
        return self._keys[party, key_type]

    def cert_pem(self, key: SigningKey, tmp_path: Path, name: str = "cert.pem") -> Path:
        path = tmp_path / name
        path.write_bytes(key.certificate.public_bytes(_PEM))
        return path

    def key_pem(self, key: SigningKey, tmp_path: Path, name: str = "key.pem") -> Path:
        path = tmp_path / name
        path.write_bytes(
            key.private_key.private_bytes(
                _PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
        )
        return path

    def issue(
        self, party: str, not_before: datetime, not_after: datetime, key_type: str = "rsa"
    ) -> SigningKey:
        """A new key and development-CA certificate with any validity (not registered)."""
        ca_key, ca_cert = _load_ca(self.keydir)
        private = generate_key(key_type)  # type: ignore[arg-type]
        cert = issue_certificate(
            ca_key, ca_cert, party, private.public_key(), not_before, not_after
        )
        return SigningKey(private, cert)

    def self_signed(self, party: str) -> SigningKey:
        private = generate_key("rsa")
        return SigningKey(
            private, self_signed_certificate(party, private, T0, T0 + timedelta(days=365))
        )

    # --- documents ------------------------------------------------------------------------

    def hk_doc(
        self,
        sender: str = "HK-TD",
        *,
        sent_at: datetime = SENT,
        doc_id: str = "msg-1",
        message_id: str = "0b7f1d2e-5a8c-4c1e-9d3b-6f2a1e0c9b77",
        remarks: str = "申請人已提交全部文件",
    ) -> etree._Element:
        q = f"{{{HK_NS}}}"
        root = etree.Element(
            q + "StatusNotice", nsmap={"cbce": HK_NS}, Id=doc_id, SchemaVersion="1.0"
        )
        header = etree.SubElement(root, q + "Header")
        for name, value in [
            ("MessageId", message_id),
            ("GatewayCaseRef", "GBA-ABCDEFGHIJ0123456789"),
            ("SentAt", sent_at.astimezone(HKT).isoformat()),
            ("Sender", sender),
            ("Recipient", "GD-GBA-GW"),
        ]:
            etree.SubElement(header, q + name).text = value
        etree.SubElement(root, q + "AgencyCaseRef").text = "TD/2026/000123"
        etree.SubElement(root, q + "Seq").text = "3"
        etree.SubElement(root, q + "Status").text = "ACCEPTED"
        etree.SubElement(root, q + "Remarks").text = remarks
        etree.SubElement(root, q + "RequiredDocuments")
        return root

    def mo_doc(
        self, sender: str = "MO-DSAT", *, sent_at: datetime = SENT, doc_id: str = "pedido-1"
    ) -> etree._Element:
        q = f"{{{MO_NS}}}"
        root = etree.Element(
            q + "ReciboProcesso", nsmap={"sip": MO_NS}, Id=doc_id, VersaoEsquema="1.0"
        )
        header = etree.SubElement(root, q + "Cabecalho")
        for name, value in [
            ("IdMensagem", "7d3e2c1b-0a9f-4e8d-8c7b-6a5f4e3d2c1b"),
            ("ReferenciaGateway", "GBA-ABCDEFGHIJ0123456789"),
            ("DataHoraEnvio", sent_at.astimezone(HKT).isoformat()),
            ("Remetente", sender),
            ("Destinatario", "GD-GBA-GW"),
        ]:
            etree.SubElement(header, q + name).text = value
        etree.SubElement(root, q + "NumeroProcesso").text = "DSAT-2026-0042"
        etree.SubElement(root, q + "DataHoraRececao").text = sent_at.astimezone(HKT).isoformat()
        return root

    def signed(self, root: etree._Element, key: SigningKey) -> bytes:
        return to_bytes(sign(root, key))

    def verify(self, data: bytes, **kwargs: object) -> Verified:
        """verify() with the kit's trust, the header of the root's format and the fixed clock."""
        kwargs.setdefault("now", NOW)
        header = kwargs.pop("header", None) or (
            self.mo_header if MO_NS.encode() in data[:400] else self.hk_header
        )
        trust = kwargs.pop("trust", None) or self.trust
        return verify(data, trust, header, **kwargs)  # type: ignore[arg-type]

    def lax_sign(
        self,
        root: etree._Element,
        key: SigningKey | bytes,
        signature_method: SignatureMethod,
        digest: DigestAlgorithm = DigestAlgorithm.SHA256,
        c14n: CanonicalizationMethod = CanonicalizationMethod.EXCLUSIVE_XML_CANONICALIZATION_1_0,
        reference_uri: str | list[str] | None = None,
    ) -> bytes:
        """Sign with signxml's refusals of SHA-1 etc. switched off: a real, weak signature."""
        signer = _LaxSigner(
            signature_algorithm=signature_method, digest_algorithm=digest, c14n_algorithm=c14n
        )
        if isinstance(key, bytes):  # HMAC shared secret
            return to_bytes(signer.sign(root, key=key, reference_uri=f"#{root.get('Id')}"))
        return to_bytes(
            signer.sign(
                root,
                key=key.private_key,
                cert=[key.certificate],
                reference_uri=reference_uri or f"#{root.get('Id')}",
            )
        )


class _LaxSigner(XMLSigner):
    def check_deprecated_methods(self) -> None:  # allow SHA-1 to forge downgrade attacks
        return None


def to_bytes(root: etree._Element) -> bytes:
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


def _load_ca(keydir: KeyDirectory) -> tuple[object, x509.Certificate]:
    key = serialization.load_pem_private_key(keydir.ca_key_path.read_bytes(), None)
    return key, x509.load_pem_x509_certificate(keydir.ca_cert_path.read_bytes())


@pytest.fixture(scope="session")
def keydir(tmp_path_factory: pytest.TempPathFactory) -> KeyDirectory:
    """All sandbox agencies and the gateway, RSA-2048, created at T0."""
    directory = KeyDirectory(tmp_path_factory.mktemp("keys-rsa"))
    directory.init(key_type="rsa", now=T0)
    return directory


@pytest.fixture(scope="session")
def ec_keydir(tmp_path_factory: pytest.TempPathFactory) -> KeyDirectory:
    """ECDSA P-256 keys for HK-TD and MO-DSAT (a second certificate each)."""
    directory = KeyDirectory(tmp_path_factory.mktemp("keys-ec"))
    directory.init(key_type="ec", agencies=("HK-TD", "MO-DSAT"), now=T0)
    return directory


@pytest.fixture(scope="session")
def kit(keydir: KeyDirectory, ec_keydir: KeyDirectory) -> SigningKit:
    return SigningKit(keydir, ec_keydir)


@pytest.fixture
def small_keydir(tmp_path: Path) -> Callable[..., KeyDirectory]:
    """A fresh directory with the gateway and HK-TD only, for tests that change it."""

    def make(key_type: str = "rsa", now: datetime = T0) -> KeyDirectory:
        directory = KeyDirectory(tmp_path / "keys")
        directory.init(key_type=key_type, agencies=("HK-TD",), now=now)  # type: ignore[arg-type]
        return directory

    return make


@pytest.fixture(scope="session")
def xmlsec1() -> str:
    """The xmlsec1 binary: the interop witness. Missing is a failure, not a skip."""
    path = shutil.which("xmlsec1")
    if path is None:
        subprocess.run(["apt-get", "install", "-y", "xmlsec1"], capture_output=True, check=False)
        path = shutil.which("xmlsec1")
    if path is None:
        pytest.fail("xmlsec1 is required (apt-get install -y xmlsec1); interop cannot be checked")
    return path


# --- the real command line, on real documents (gbagw verify) -------------------------------


@dataclass
class DocumentKind:
    """One of the four document kinds the gateway signs or receives, unsigned and signable."""

    name: str
    #: the unsigned root as the real format code rendered it (copy before changing it)
    unsigned: etree._Element
    #: the party in the signed header (the one whose key signs it)
    party: str
    header: HeaderSpec
    #: local names of the leaves holding business values (for comment tests)
    case_ref: str
    status: str | None
    sequence: str | None

    def root(self) -> etree._Element:
        return copy.deepcopy(self.unsigned)

    def header_element(self, root: etree._Element, field: str = "sender") -> etree._Element:
        found = root.find(getattr(self.header, field))
        assert found is not None
        return found


class CliKit:
    """``gbagw verify`` as a user runs it, on a real-time key directory of its own.

    Besides the sandbox agencies, the trust list registers ``HK-EXPIRED`` (a certificate whose
    validity ended yesterday) and ``HK-FUTURE`` (valid from tomorrow), so time refusals are
    reachable without touching the clock. Documents are rendered by the real formats: a CBCE
    CaseSubmission and a SIP PedidoProcesso by the pipeline, a StatusNotice and an
    EstadoProcesso by the adapters' renderers, as the sandboxes do.
    """

    gbagw_path = str(Path(sys.executable).with_name("gbagw"))

    def __init__(self, keys: KeyDirectory, pipeline: Any, workdir: Path):
        self.keys = keys
        self.workdir = workdir
        self.now = datetime.now(UTC)
        ca_key, ca_cert = _load_ca(keys)
        self._extra: dict[str, SigningKey] = {}
        for party, start, end in (
            ("HK-EXPIRED", self.now - timedelta(days=30), self.now - timedelta(days=1)),
            ("HK-FUTURE", self.now + timedelta(days=1), self.now + timedelta(days=30)),
        ):
            private = generate_key("rsa")
            cert = issue_certificate(ca_key, ca_cert, party, private.public_key(), start, end)
            keys.add_certificate(party, cert)
            self._extra[party] = SigningKey(private, cert)
        self.trust = keys.trust_store()
        self._keys: dict[str, SigningKey] = {}
        self.kinds = self._render_kinds(pipeline)

    def key(self, party: str) -> SigningKey:
        if party in self._extra:
            return self._extra[party]
        if party not in self._keys:
            self._keys[party] = self.keys.signing_key(party)
        return self._keys[party]

    def sign(
        self, root: etree._Element, party: str | None = None, kind: str | None = None
    ) -> bytes:
        owner = party or (self.kinds[kind].party if kind else "GD-GBA-GW")
        return to_bytes(sign(root, self.key(owner)))

    def signed(self, kind: str) -> bytes:
        return self.sign(self.kinds[kind].root(), kind=kind)

    def lax_sign(
        self,
        root: etree._Element,
        key: SigningKey | bytes,
        signature_method: SignatureMethod,
        digest: DigestAlgorithm = DigestAlgorithm.SHA256,
        c14n: CanonicalizationMethod = CanonicalizationMethod.EXCLUSIVE_XML_CANONICALIZATION_1_0,
        reference_uri: str | list[str] | None = None,
    ) -> bytes:
        """A real signature with signxml's own refusals (SHA-1 …) switched off."""
        signer = _LaxSigner(
            signature_algorithm=signature_method, digest_algorithm=digest, c14n_algorithm=c14n
        )
        uri = reference_uri or f"#{root.get('Id')}"
        if isinstance(key, bytes):  # HMAC shared secret
            return to_bytes(signer.sign(root, key=key, reference_uri=uri))
        return to_bytes(
            signer.sign(root, key=key.private_key, cert=[key.certificate], reference_uri=uri)
        )

    def write(self, name: str, data: bytes) -> Path:
        path = self.workdir / name
        path.write_bytes(data)
        return path

    def gbagw(
        self, *args: str, stdin: bytes | None = None, timeout: float = 120
    ) -> subprocess.CompletedProcess[str]:
        """``gbagw verify --keys <dir> ARGS…`` as a real process; output decoded leniently."""
        done = subprocess.run(
            [self.gbagw_path, "verify", "--keys", str(self.keys.path), *args],
            input=stdin if stdin is not None else b"",
            capture_output=True,
            timeout=timeout,
            env={**os.environ, "COLUMNS": "80", "TERM": "dumb"},
            check=False,
        )
        return subprocess.CompletedProcess(
            done.args,
            done.returncode,
            done.stdout.decode("utf-8", "replace"),
            done.stderr.decode("utf-8", "replace"),
        )

    def _render_kinds(self, pipeline: Any) -> dict[str, DocumentKind]:
        from adapters.hk import FORMAT as CBCE
        from adapters.macau import FORMAT as SIP
        from gateway.devkit.examples import bundled_examples
        from gateway.domain import MessageHeader, StatusEvent, StatusReport

        examples = {path.stem: path for path in bundled_examples()}
        kinds: dict[str, DocumentKind] = {}
        for name, example, fmt, case_ref in (
            ("cbce-submission", "driving-licence-exchange-hk", CBCE, "GatewayCaseRef"),
            ("sip-pedido", "driving-licence-exchange-mo", SIP, "ReferenciaGateway"),
        ):
            rendered = pipeline.render(pipeline.accept(examples[example].read_bytes()), None)
            kinds[name] = DocumentKind(
                name, rendered.document, "GD-GBA-GW", fmt.header, case_ref, None, None
            )
        sent = (self.now - timedelta(minutes=5)).astimezone(HKT)

        def report(sender: str, events: list[tuple[int, str]]) -> StatusReport:
            return StatusReport(
                header=MessageHeader(
                    message_id=str(uuid.uuid4()),
                    case_ref="GBA-0123456789ABCDEF0123",
                    sent_at=sent,
                    sender=sender,
                    recipient="GD-GBA-GW",
                ),
                agency_case_ref="TD/2026/000123" if sender.startswith("HK") else "DSAT-2026-0042",
                events=[
                    StatusEvent(seq=seq, agency_status=status, changed_at=sent, remarks="已受理")
                    for seq, status in events
                ],
            )

        render_notice = getattr(CBCE, "render_status_notice", None) or CBCE.render_status
        notice = render_notice(report("HK-TD", [(12, "IN_PROGRESS")]))
        CBCE.validate(notice)
        kinds["cbce-status"] = DocumentKind(
            "cbce-status", notice, "HK-TD", CBCE.header, "AgencyCaseRef", "Status", "Seq"
        )
        estado = SIP.render_status(report("MO-DSAT", [(11, "RECEBIDO"), (12, "EM_APRECIACAO")]))
        SIP.validate(estado)
        kinds["sip-estado"] = DocumentKind(
            "sip-estado", estado, "MO-DSAT", SIP.header, "NumeroProcesso", "Estado", "Sequencia"
        )
        return kinds


@pytest.fixture(scope="session")
def cli_kit(tmp_path_factory: pytest.TempPathFactory, pipeline: Any) -> CliKit:
    keys = KeyDirectory(tmp_path_factory.mktemp("keys-cli"))
    keys.init(agencies=("HK-TD", "HK-CR", "MO-DSAT", "MO-DSI"))
    return CliKit(keys, pipeline, tmp_path_factory.mktemp("cli-documents"))
