"""Sign and verify with real keys: the profile the specs require, and what verify returns."""

from __future__ import annotations

from datetime import timedelta

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from lxml import etree

from signing import SigningKey, WrongSender, sign
from signing.keydir import SANDBOX_AGENCIES
from signing.parties import GATEWAY_PARTY

ALG = {
    "rsa": "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256",
    "ec": "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256",
}


@pytest.mark.parametrize("key_type", ["rsa", "ec"])
@pytest.mark.parametrize("fmt", ["hk", "mo"])
def test_signed_document_verifies_and_reports_signed_header(kit, key_type, fmt):
    sender = "HK-TD" if fmt == "hk" else "MO-DSAT"
    key = kit.key(sender, key_type)
    root = kit.hk_doc(sender) if fmt == "hk" else kit.mo_doc(sender)

    result = kit.verify(kit.signed(root, key), expected_sender=sender)

    assert result.sender == sender
    assert result.fingerprint == key.fingerprint
    assert result.certificate.party == sender
    assert result.sent_at == kit.sent
    assert result.message_id.count("-") == 4
    assert result.signed_bytes.startswith(b"<")


def test_signature_profile_matches_the_specs(kit):
    signed = sign(kit.hk_doc(), kit.key("HK-TD"))
    ds = f"{{{kit.ds_ns}}}"

    signature = signed[-1]
    assert signature.tag == ds + "Signature"  # the root's last child
    assert signature.prefix == "ds"
    info = signature.find(ds + "SignedInfo")
    c14n = "http://www.w3.org/2001/10/xml-exc-c14n#"
    assert info.find(ds + "CanonicalizationMethod").get("Algorithm") == c14n
    assert info.find(ds + "SignatureMethod").get("Algorithm") == ALG["rsa"]
    (reference,) = info.findall(ds + "Reference")
    assert reference.get("URI") == "#msg-1"
    assert [t.get("Algorithm") for t in reference.iter(ds + "Transform")] == [
        "http://www.w3.org/2000/09/xmldsig#enveloped-signature",
        c14n,
    ]
    digest = reference.find(ds + "DigestMethod").get("Algorithm")
    assert digest == "http://www.w3.org/2001/04/xmlenc#sha256"
    key_info = signature.find(ds + "KeyInfo")
    assert [child.tag for child in key_info] == [ds + "X509Data"]
    assert len(key_info.findall(f"{ds}X509Data/{ds}X509Certificate")) == 1


def test_ecdsa_key_signs_with_ecdsa_sha256(kit):
    key = kit.key("MO-DSAT", "ec")
    assert isinstance(key.private_key, ec.EllipticCurvePrivateKey)
    signed = sign(kit.mo_doc(), key)
    method = signed.find(f".//{{{kit.ds_ns}}}SignatureMethod").get("Algorithm")
    assert method == ALG["ec"]


def test_sign_leaves_input_untouched_and_needs_an_id(kit):
    root = kit.hk_doc()
    before = etree.tostring(root)
    sign(root, kit.key("HK-TD"))
    assert etree.tostring(root) == before

    del root.attrib["Id"]
    with pytest.raises(ValueError, match="no Id"):
        sign(root, kit.key("HK-TD"))


def test_sign_refuses_an_already_signed_root(kit):
    signed = sign(kit.hk_doc(), kit.key("HK-TD"))
    with pytest.raises(ValueError, match="already"):
        sign(signed, kit.key("HK-TD"))


def test_verified_element_is_the_signed_form_not_the_received_tree(kit):
    data = kit.signed(kit.hk_doc(remarks="原文"), kit.key("HK-TD"))
    result = kit.verify(data)

    element = result.element
    assert element.getparent() is None
    assert element.find(f".//{{{kit.ds_ns}}}Signature") is None  # enveloped signature removed
    assert element.findtext(f"{{{kit.hk_ns}}}Remarks") == "原文"
    assert etree.tostring(element, method="c14n", exclusive=True) == result.signed_bytes


def test_expected_sender_must_match(kit):
    data = kit.signed(kit.hk_doc("HK-TD"), kit.key("HK-TD"))
    with pytest.raises(WrongSender, match="HK-CR"):
        kit.verify(data, expected_sender="HK-CR")


def test_gateway_document_verifies_as_gateway(kit):
    key = kit.keydir.gateway_key(now=kit.now)
    result = kit.verify(kit.signed(kit.hk_doc(GATEWAY_PARTY), key), expected_sender=GATEWAY_PARTY)
    assert result.sender == GATEWAY_PARTY


def test_every_sandbox_agency_has_a_working_key(kit):
    for code in SANDBOX_AGENCIES:
        root = kit.hk_doc(code) if code.startswith("HK-") else kit.mo_doc(code)
        assert kit.verify(kit.signed(root, kit.keydir.agency_key(code, now=kit.now))).sender == code


def test_signing_key_load_checks_the_pair(kit, tmp_path):
    td, cr = kit.key("HK-TD"), kit.key("HK-CR")
    loaded = SigningKey.load(kit.key_pem(td, tmp_path), kit.cert_pem(td, tmp_path))
    assert loaded.fingerprint == td.fingerprint

    with pytest.raises(ValueError, match="does not match"):
        SigningKey.load(kit.key_pem(td, tmp_path), kit.cert_pem(cr, tmp_path, "other.pem"))


def test_sent_at_within_clock_skew_is_accepted(kit):
    ahead = kit.now + timedelta(seconds=200)
    data = kit.signed(kit.hk_doc(sent_at=ahead), kit.key("HK-TD"))
    assert kit.verify(data).sent_at == ahead
