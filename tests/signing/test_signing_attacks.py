"""Every attack the issue lists, each refused with its own error class.

Where it shows something, a *witness* first proves the forged document is cryptographically
valid — bare signxml (or xmlsec1) accepts it — so the rejection is the gateway's own check and
not an accident of a broken forgery.
"""

from __future__ import annotations

import copy
import subprocess
from datetime import timedelta

import pytest
from lxml import etree
from signxml import SignatureConfiguration, XMLVerifier
from signxml.algorithms import CanonicalizationMethod, DigestAlgorithm, SignatureMethod

from signing import (
    AlgorithmNotAllowed,
    CertificateExpired,
    CertificateNotRegistered,
    CertificateNotYetValid,
    CertificateOfAnotherParty,
    DigestMismatch,
    DocumentTooLarge,
    DtdForbidden,
    DuplicateId,
    ExternalReferenceForbidden,
    Limits,
    ProcessingInstructionForbidden,
    ReferenceMismatch,
    SentAtInFuture,
    SignatureCountError,
    SignatureInvalid,
    SignatureMisplaced,
    SignatureRejected,
    SignatureStructureError,
    SignedElementWrapped,
    TrustStore,
    WeakAlgorithm,
    WrongSender,
    sign,
)


def xml(root: etree._Element) -> bytes:
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


@pytest.fixture
def td(kit):
    return kit.key("HK-TD")


@pytest.fixture
def signed(kit, td) -> bytes:
    return kit.signed(kit.hk_doc(), td)


def q(kit, name: str) -> str:
    return f"{{{kit.hk_ns}}}{name}"


def ds(kit, name: str) -> str:
    return f"{{{kit.ds_ns}}}{name}"


# --- signature wrapping ----------------------------------------------------------------------


def test_signed_element_wrapped_under_a_new_root(kit, td, signed):
    evil = kit.hk_doc(doc_id="evil", remarks="forged", message_id="evil-message")
    evil.append(etree.fromstring(signed))
    forged = xml(evil)
    XMLVerifier().verify(forged, x509_cert=td.certificate)  # witness: signxml defaults accept

    with pytest.raises(SignedElementWrapped, match="wrapping"):
        kit.verify(forged)


def test_signature_at_root_with_reference_into_a_wrapper(kit, td, signed):
    original = etree.fromstring(signed)
    signature = original[-1]
    original.remove(signature)
    evil = kit.hk_doc(doc_id="evil", remarks="forged", message_id="evil-message")
    etree.SubElement(evil, q(kit, "Extension")).append(original)
    evil.append(signature)
    forged = xml(evil)
    # witness: even requiring the signature at the root, signxml follows the reference
    XMLVerifier().verify(
        forged, x509_cert=td.certificate, expect_config=SignatureConfiguration(location="./")
    )

    with pytest.raises(ReferenceMismatch, match="#msg-1"):
        kit.verify(forged)


def test_signature_moved_into_a_child(kit, td, signed):
    root = etree.fromstring(signed)
    root.find(q(kit, "Header")).append(root[-1])
    forged = xml(root)
    XMLVerifier().verify(forged, x509_cert=td.certificate)  # witness

    with pytest.raises(SignatureMisplaced) as caught:
        kit.verify(forged)
    assert caught.type is SignatureMisplaced


@pytest.mark.parametrize("attribute", ["Id", "{urn:example:evil}Id"])
def test_duplicate_id_outside_the_signed_content(kit, signed, attribute):
    evil = kit.hk_doc(doc_id="unused", remarks="forged")
    del evil.attrib["Id"]
    evil.set(attribute, "msg-1")
    original = etree.fromstring(signed)
    evil.append(original)
    with pytest.raises(DuplicateId, match="msg-1"):
        kit.verify(xml(evil))


def test_duplicate_id_inside_the_document(kit, signed):
    root = etree.fromstring(signed)
    etree.SubElement(root.find(q(kit, "RequiredDocuments")), q(kit, "Document"), Id="msg-1")
    with pytest.raises(DuplicateId):
        kit.verify(xml(root))


def test_second_signature_is_refused(kit, signed):
    root = etree.fromstring(signed)
    root.find(q(kit, "Header")).append(copy.deepcopy(root[-1]))
    with pytest.raises(SignatureCountError, match="found 2"):
        kit.verify(xml(root))


def test_unsigned_document_is_refused(kit):
    with pytest.raises(SignatureCountError, match="found 0"):
        kit.verify(xml(kit.hk_doc()))


def test_two_references_are_refused(kit, td):
    root = kit.hk_doc()
    root.find(q(kit, "Header")).set("Id", "hdr")
    forged = kit.lax_sign(root, td, SignatureMethod.RSA_SHA256, reference_uri=["#msg-1", "#hdr"])
    with pytest.raises(ReferenceMismatch, match="found 2"):
        kit.verify(forged)


def test_reference_to_an_external_resource_is_refused(kit, signed):
    forged = signed.replace(b'URI="#msg-1"', b'URI="https://evil.example/doc.xml"')
    with pytest.raises(ExternalReferenceForbidden):
        kit.verify(forged)


def test_retrieval_method_in_key_info_is_refused(kit, signed):
    root = etree.fromstring(signed)
    key_info = root[-1].find(ds(kit, "KeyInfo"))
    etree.SubElement(key_info, ds(kit, "RetrievalMethod"), URI="https://evil.example/cert")
    with pytest.raises(ExternalReferenceForbidden):
        kit.verify(xml(root))


# --- content changed after signing -------------------------------------------------------------


def test_comment_splitting_a_signed_text_node_is_read_whole(kit, td, signed):
    """Comments are not signed (exclusive C14N); the value read is the signed one, whole."""
    forged = signed.replace(b">HK-TD<", b">HK-<!-- ignored -->TD<")
    assert forged != signed
    XMLVerifier().verify(forged, x509_cert=td.certificate)  # witness: comments are not signed
    received = etree.fromstring(forged)
    assert received.find(f"{q(kit, 'Header')}/{q(kit, 'Sender')}").text == "HK-"  # the danger

    verified = kit.verify(forged)
    assert verified.sender == "HK-TD"
    assert verified.element.findtext(f"{q(kit, 'Header')}/{q(kit, 'Sender')}") == "HK-TD"
    assert next(verified.element.iter(etree.Comment), None) is None


def test_comment_anywhere_is_accepted(kit, signed):
    forged = signed.replace(b"<cbce:Status>", b"<!-- note --><cbce:Status>")
    forged = forged.replace(b"?>", b"?><!-- before the root -->", 1) + b"<!-- after -->"
    assert kit.verify(forged).element.findtext(q(kit, "Status")) == "ACCEPTED"


def test_comment_inside_the_signature_is_accepted(kit, signed):
    root = etree.fromstring(signed)
    value = root[-1].find(ds(kit, "SignatureValue"))
    forged = signed.replace(
        value.text.encode(), value.text[:10].encode() + b"<!--x-->" + value.text[10:].encode()
    )
    assert forged != signed
    assert kit.verify(forged).sender == "HK-TD"


def test_extra_text_in_signed_content(kit, signed):
    forged = signed.replace(b">ACCEPTED<", b">ACCEPTED, APPROVED<")
    assert forged != signed
    with pytest.raises(DigestMismatch):
        kit.verify(forged)


def test_text_after_the_signature_is_a_structure_error(kit, td):
    """Signed text moved behind ds:Signature still digests, but signxml cannot copy the
    signature out (its serialisation carries the text): a typed refusal, not a parser error.
    Whitespace there is accepted (test_signing_verify_shortcuts)."""
    root = kit.hk_doc()
    root[-1].tail = "trailing"
    signed = sign(root, td)
    signed[-2].tail, signed[-1].tail = None, "trailing"
    with pytest.raises(SignatureStructureError, match="text after ds:Signature"):
        kit.verify(xml(signed))


def test_processing_instruction_is_refused(kit, signed):
    forged = signed.replace(b"<cbce:Status>", b"<?evil do-something?><cbce:Status>")
    with pytest.raises(ProcessingInstructionForbidden):
        kit.verify(forged)


def test_tampered_signature_value(kit, signed):
    root = etree.fromstring(signed)
    value = root[-1].find(ds(kit, "SignatureValue"))
    value.text = ("A" if value.text[0] != "A" else "B") + value.text[1:]
    with pytest.raises(SignatureInvalid) as caught:
        kit.verify(xml(root))
    assert caught.type is SignatureInvalid


# --- downgrade ---------------------------------------------------------------------------------


def test_sha1_signature_is_refused_though_xmlsec1_accepts_it(kit, td, xmlsec1, tmp_path):
    forged = kit.lax_sign(kit.hk_doc(), td, SignatureMethod.RSA_SHA1, DigestAlgorithm.SHA1)
    (tmp_path / "sha1.xml").write_bytes(forged)
    witness = subprocess.run(
        [
            xmlsec1, "--verify", "--id-attr:Id", f"{kit.hk_ns}:StatusNotice",
            "--pubkey-cert-pem", str(kit.cert_pem(td, tmp_path)),
            "--enabled-key-data", "key-name", str(tmp_path / "sha1.xml"),
        ],
        capture_output=True,
        check=False,
    )  # fmt: skip
    assert witness.returncode == 0, witness.stderr  # a real, valid SHA-1 signature

    with pytest.raises(WeakAlgorithm, match="rsa-sha1"):
        kit.verify(forged)


def test_sha1_digest_under_a_sha256_signature_is_refused(kit, td):
    forged = kit.lax_sign(kit.hk_doc(), td, SignatureMethod.RSA_SHA256, DigestAlgorithm.SHA1)
    with pytest.raises(WeakAlgorithm, match="digest"):
        kit.verify(forged)


def test_hmac_signature_is_refused(kit):
    forged = kit.lax_sign(kit.hk_doc(), b"a shared secret", SignatureMethod.HMAC_SHA256)
    XMLVerifier().verify(  # witness: a valid HMAC signature
        forged,
        hmac_key=b"a shared secret",
        expect_config=SignatureConfiguration(require_x509=False),
    )
    with pytest.raises(WeakAlgorithm, match="hmac"):
        kit.verify(forged)


@pytest.mark.parametrize(
    "old, new",
    [
        (b"xmlenc#sha256", b"xmldsig-more#md5"),
        (b"xmldsig-more#rsa-sha256", b"xmldsig-more#rsa-md5"),
        (b"xmldsig-more#rsa-sha256", b"xmldsig#dsa-sha1"),
        (b"xmldsig-more#rsa-sha256", b"xmldsig-more#ecdsa-sha1"),
    ],
)
def test_forged_weak_algorithm_uris_are_refused(kit, signed, old, new):
    assert old in signed
    with pytest.raises(WeakAlgorithm):
        kit.verify(signed.replace(old, new))


def test_inclusive_c14n_is_not_allowed(kit, td):
    forged = kit.lax_sign(
        kit.hk_doc(), td, SignatureMethod.RSA_SHA256, c14n=CanonicalizationMethod.CANONICAL_XML_1_0
    )
    with pytest.raises(AlgorithmNotAllowed) as caught:
        kit.verify(forged)
    assert caught.type is AlgorithmNotAllowed


def test_extra_transform_is_not_allowed(kit, signed):
    root = etree.fromstring(signed)
    transforms = root[-1].find(
        f"{ds(kit, 'SignedInfo')}/{ds(kit, 'Reference')}/{ds(kit, 'Transforms')}"
    )
    etree.SubElement(
        transforms, ds(kit, "Transform"), Algorithm="http://www.w3.org/TR/1999/REC-xpath-19991116"
    )
    with pytest.raises(AlgorithmNotAllowed, match="xpath"):
        kit.verify(xml(root))


# --- who signed --------------------------------------------------------------------------------


def test_valid_signature_by_another_agencys_certificate(kit):
    forged = kit.signed(kit.hk_doc("HK-TD"), kit.key("HK-CR"))
    with pytest.raises(CertificateOfAnotherParty, match="HK-CR"):
        kit.verify(forged)


def test_macao_agency_cannot_sign_for_a_hong_kong_agency(kit):
    forged = kit.signed(kit.hk_doc("HK-TD"), kit.key("MO-DSAT", "ec"))
    with pytest.raises(CertificateOfAnotherParty):
        kit.verify(forged)


def test_another_agency_signing_as_itself_is_not_the_expected_sender(kit):
    data = kit.signed(kit.hk_doc("HK-CR"), kit.key("HK-CR"))
    with pytest.raises(WrongSender):
        kit.verify(data, expected_sender="HK-TD")


def test_self_signed_certificate_not_registered(kit):
    impostor = kit.self_signed("HK-TD")
    forged = kit.signed(kit.hk_doc("HK-TD"), impostor)
    with pytest.raises(CertificateNotRegistered, match="CN=HK-TD"):
        kit.verify(forged)


def test_dev_ca_certificate_not_registered_is_refused(kit):
    unregistered = kit.issue("HK-TD", kit.t0, kit.t0 + timedelta(days=365))
    with pytest.raises(CertificateNotRegistered):
        kit.verify(kit.signed(kit.hk_doc("HK-TD"), unregistered))


# --- time --------------------------------------------------------------------------------------


def test_expired_certificate(kit, td):
    later = kit.t0 + timedelta(days=731)
    data = kit.signed(kit.hk_doc(sent_at=later), td)
    with pytest.raises(CertificateExpired, match="notAfter"):
        kit.verify(data, now=later + timedelta(minutes=1))


def test_signed_while_valid_but_received_after_expiry(kit, td):
    sent = kit.t0 + timedelta(days=729)
    data = kit.signed(kit.hk_doc(sent_at=sent), td)
    assert kit.verify(data, now=sent).sender == "HK-TD"
    with pytest.raises(CertificateExpired, match="verification time"):
        kit.verify(data, now=sent + timedelta(days=2))


def test_not_yet_valid_certificate(kit):
    future = kit.issue("HK-TD", kit.t0 + timedelta(days=100), kit.t0 + timedelta(days=200))
    trust = TrustStore(kit.trust)
    trust.register("HK-TD", future.certificate)
    data = kit.signed(kit.hk_doc(), future)
    with pytest.raises(CertificateNotYetValid, match="verification time"):
        kit.verify(data, trust=trust)


def test_backdated_send_time_before_the_certificate(kit):
    key = kit.issue("HK-TD", kit.t0 + timedelta(days=100), kit.t0 + timedelta(days=200))
    trust = TrustStore(kit.trust)
    trust.register("HK-TD", key.certificate)
    data = kit.signed(kit.hk_doc(sent_at=kit.t0 + timedelta(days=50)), key)
    with pytest.raises(CertificateNotYetValid, match="signed send time"):
        kit.verify(data, trust=trust, now=kit.t0 + timedelta(days=101))


def test_send_time_in_the_future(kit, td):
    data = kit.signed(kit.hk_doc(sent_at=kit.now + timedelta(hours=1)), td)
    with pytest.raises(SentAtInFuture):
        kit.verify(data)


# --- the parser's refusals, through verify -----------------------------------------------------


def test_xxe_in_a_signed_document(kit, signed):
    forged = signed.replace(
        b"?>", b'?>\n<!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]>', 1
    ).replace(b">ACCEPTED<", b">&x;<")
    with pytest.raises(DtdForbidden) as caught:
        kit.verify(forged)
    assert "root:" not in str(caught.value)


def test_billion_laughs(kit):
    lol = "".join(f'<!ENTITY l{i} "{("&l" + str(i - 1) + ";") * 10}">' for i in range(1, 10))
    bomb = f'<!DOCTYPE r [<!ENTITY l0 "lol">{lol}]><r Id="x">&l9;</r>'.encode()
    with pytest.raises(DtdForbidden):
        kit.verify(bomb)


def test_oversize_document(kit, td):
    data = kit.signed(kit.hk_doc(remarks="長" * 400_000), td)  # 1.2 MB of UTF-8
    assert len(data) > 1 << 20
    with pytest.raises(DocumentTooLarge):
        kit.verify(data)
    with pytest.raises(DocumentTooLarge):
        kit.verify(kit.signed(kit.hk_doc(), td), limits=Limits(max_bytes=2000))


def test_every_refusal_is_a_signature_rejected():
    for error in (
        SignedElementWrapped, ReferenceMismatch, DuplicateId, DigestMismatch,
        WeakAlgorithm, CertificateOfAnotherParty, CertificateExpired, CertificateNotYetValid,
        CertificateNotRegistered, DtdForbidden, DocumentTooLarge, WrongSender, SentAtInFuture,
    ):  # fmt: skip
        assert issubclass(error, SignatureRejected)
