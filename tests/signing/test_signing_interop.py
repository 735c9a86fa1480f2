"""Interop with Debian's xmlsec1 both ways (what an agency's XML-DSig stack will look like).

xmlsec1 is a witness here only: it is never run on untrusted input in the gateway.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from lxml import etree

from signing import DigestMismatch, SigningKey, sign

SIGNATURE_METHOD = {
    "rsa": "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256",
    "ec": "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256",
}


def run_xmlsec1(xmlsec1: str, *args: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([xmlsec1, *args], capture_output=True, check=False, timeout=30)


def id_attr(root: etree._Element) -> str:
    qname = etree.QName(root)
    return f"{qname.namespace}:{qname.localname}"


def gateway_key(kit, key_type: str) -> SigningKey:
    source = kit.keydir if key_type == "rsa" else kit.ec_keydir
    return source.gateway_key(now=kit.now)


@pytest.mark.parametrize("key_type", ["rsa", "ec"])
@pytest.mark.parametrize("fmt", ["hk", "mo"])
def test_xmlsec1_verifies_what_the_gateway_signs(kit, xmlsec1, tmp_path, key_type, fmt):
    key = gateway_key(kit, key_type)
    root = kit.hk_doc("GD-GBA-GW") if fmt == "hk" else kit.mo_doc("GD-GBA-GW")
    signed = tmp_path / "signed.xml"
    signed.write_bytes(kit.signed(root, key))
    cert = kit.cert_pem(key, tmp_path)
    ca = (kit.keydir if key_type == "rsa" else kit.ec_keydir).ca_cert_path

    pinned = run_xmlsec1(
        xmlsec1, "--verify", "--id-attr:Id", id_attr(root),
        "--pubkey-cert-pem", str(cert), "--enabled-key-data", "key-name", str(signed),
    )  # fmt: skip
    assert pinned.returncode == 0, pinned.stderr.decode()
    chained = run_xmlsec1(
        xmlsec1, "--verify", "--id-attr:Id", id_attr(root), "--trusted-pem", str(ca), str(signed)
    )
    assert chained.returncode == 0, chained.stderr.decode()

    tampered = tmp_path / "tampered.xml"
    tampered.write_bytes(signed.read_bytes().replace(b"GBA-ABCDEFGHIJ", b"GBA-ZBCDEFGHIJ"))
    refused = run_xmlsec1(
        xmlsec1, "--verify", "--id-attr:Id", id_attr(root),
        "--pubkey-cert-pem", str(cert), "--enabled-key-data", "key-name", str(tampered),
    )  # fmt: skip
    assert refused.returncode != 0  # the witness can say no


def template(kit, root: etree._Element, key_type: str) -> bytes:
    """The root with an empty XML-DSig template for xmlsec1 to fill, as an agency would."""
    signature = etree.fromstring(
        f"""<ds:Signature xmlns:ds="{kit.ds_ns}">
  <ds:SignedInfo>
    <ds:CanonicalizationMethod Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#"/>
    <ds:SignatureMethod Algorithm="{SIGNATURE_METHOD[key_type]}"/>
    <ds:Reference URI="#{root.get("Id")}">
      <ds:Transforms>
        <ds:Transform Algorithm="http://www.w3.org/2000/09/xmldsig#enveloped-signature"/>
        <ds:Transform Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#"/>
      </ds:Transforms>
      <ds:DigestMethod Algorithm="http://www.w3.org/2001/04/xmlenc#sha256"/>
      <ds:DigestValue/>
    </ds:Reference>
  </ds:SignedInfo>
  <ds:SignatureValue/>
  <ds:KeyInfo><ds:X509Data/></ds:KeyInfo>
</ds:Signature>"""
    )
    root.append(signature)
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


def xmlsec1_sign(kit, xmlsec1: str, tmp_path: Path, root: etree._Element, key, key_type) -> bytes:
    tmpl = tmp_path / "template.xml"
    out = tmp_path / "out.xml"
    attr = id_attr(root)
    tmpl.write_bytes(template(kit, root, key_type))
    keys = f"{kit.key_pem(key, tmp_path)},{kit.cert_pem(key, tmp_path)}"
    done = run_xmlsec1(
        xmlsec1, "--sign", "--privkey-pem", keys, "--id-attr:Id", attr, "--output", str(out),
        str(tmpl),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr.decode()
    return out.read_bytes()


@pytest.mark.parametrize("key_type", ["rsa", "ec"])
@pytest.mark.parametrize("fmt", ["hk", "mo"])
def test_gateway_verifies_what_xmlsec1_signs(kit, xmlsec1, tmp_path, key_type, fmt):
    sender = "HK-TD" if fmt == "hk" else "MO-DSAT"
    key = kit.key(sender, key_type)
    root = kit.hk_doc(sender) if fmt == "hk" else kit.mo_doc(sender)

    data = xmlsec1_sign(kit, xmlsec1, tmp_path, root, key, key_type)
    assert b"<ds:X509Certificate>" in data  # xmlsec1 filled in the certificate

    result = kit.verify(data, expected_sender=sender)
    assert result.sender == sender
    assert result.fingerprint == key.fingerprint
    assert result.sent_at == kit.sent

    with pytest.raises(DigestMismatch):  # and the same check still bites on its output
        kit.verify(data.replace(b"GBA-ABCDEFGHIJ", b"GBA-ZBCDEFGHIJ"))


def test_xmlsec1_and_gateway_agree_on_the_signed_bytes(kit, xmlsec1, tmp_path):
    """Same key, same document: both produce the same reference digest (same C14N)."""
    key = kit.key("HK-TD")
    ours = sign(kit.hk_doc(), key)
    theirs = etree.fromstring(xmlsec1_sign(kit, xmlsec1, tmp_path, kit.hk_doc(), key, "rsa"))
    digest = f".//{{{kit.ds_ns}}}DigestValue"
    assert ours.findtext(digest) == theirs.findtext(digest)
