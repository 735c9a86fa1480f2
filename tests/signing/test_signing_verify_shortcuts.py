"""The verifier's shortcuts through signxml canonicalise exactly what signxml's own path does.

``signing.verifier`` skips two of signxml's defensive copies and its ``#<Id>`` XPath for the
one shape the earlier checks let through (see ``_CheckedTreeVerifier``). Each case here is
verified both ways — the gateway's ``verify`` and bare signxml on the received bytes — and the
signed bytes (what the digest covers) must be identical, or both must refuse. The documents
carry what a copy or a canonicaliser could get wrong: unused and nested namespace
declarations, namespaced attributes, mixed content, a signature with tail text, comments (an
``InclusiveNamespaces`` prefix list never gets that far: signxml's schema check refuses it).
"""

from __future__ import annotations

import pytest
from lxml import etree
from signxml import SignatureConfiguration, XMLSigner, XMLVerifier
from signxml.algorithms import CanonicalizationMethod, DigestAlgorithm
from signxml.exceptions import InvalidDigest

from signing import sign
from signing.errors import DigestMismatch, SignatureStructureError

EXTRA_NS = "urn:example:extra"
XML_NS = "http://www.w3.org/XML/1998/namespace"


def _bare(data: bytes, kit, party: str = "HK-TD", key_type: str = "rsa") -> bytes:
    config = SignatureConfiguration(
        location="./",
        expect_references=1,
        default_reference_c14n_method=CanonicalizationMethod.EXCLUSIVE_XML_CANONICALIZATION_1_0,
        verification_time=kit.now,
    )
    result = XMLVerifier().verify(
        data,
        x509_cert=kit.key(party, key_type).certificate,
        id_attribute="Id",
        expect_config=config,
    )
    assert not isinstance(result, list)
    return result.signed_data


def _rich_doc(kit) -> etree._Element:
    root = kit.hk_doc()
    q = f"{{{kit.hk_ns}}}"
    root.text = "\n  "
    for child in root:
        child.tail = "\n  "
    extra = etree.SubElement(
        root, q + "Extension", nsmap={"x": EXTRA_NS, None: EXTRA_NS, "unused": "urn:unused"}
    )
    extra.set(f"{{{EXTRA_NS}}}kind", "a&b <c> \"d\" 'e'\ttab")
    extra.set(f"{{{XML_NS}}}lang", "zh-Hant")
    inner = etree.SubElement(extra, f"{{{EXTRA_NS}}}Note")
    inner.text = "前 "
    bold = etree.SubElement(inner, f"{{{EXTRA_NS}}}B")
    bold.text = "粗"
    bold.tail = " 後 &amp; ]]> \r"
    etree.SubElement(extra, q + "Back").text = "cbce again"
    return root


def _cases(kit):
    yield "plain rsa", kit.signed(kit.hk_doc(), kit.key("HK-TD")), "rsa"
    yield "plain ec", kit.signed(kit.hk_doc(), kit.key("HK-TD", "ec")), "ec"
    yield "rich", kit.signed(_rich_doc(kit), kit.key("HK-TD")), "rsa"

    # the signature first, its tail text taking the place of the root's leading text
    signed = sign(_rich_doc(kit), kit.key("HK-TD"))
    signature = signed[-1]
    signed[-2].tail, signature.tail = signature.tail, None
    signed.insert(0, signature)
    signature.tail, signed.text = signed.text, None
    yield "signature first, with tail", _to_bytes(signed), "rsa"

    # the same, with the tail whitespace changed: both must refuse (digest)
    signature.tail = "\n\n\t"
    yield "signature tail altered", _to_bytes(signed), "rsa"

    # a comment inside signed text and one inside the signature
    data = kit.signed(_rich_doc(kit), kit.key("HK-TD"))
    root = etree.fromstring(data)
    note = root.find(f".//{{{EXTRA_NS}}}Note")
    comment = etree.Comment(" toolkit ")
    comment.tail, note.text = note.text[1:], note.text[:1]
    note.insert(0, comment)
    root[-1].insert(1, etree.Comment(" in signature "))
    yield "comments", _to_bytes(root), "rsa"

    # an InclusiveNamespaces prefix list on the exclusive C14N transform
    signer = XMLSigner(
        signature_algorithm=kit.key("HK-TD").signature_method,
        digest_algorithm=DigestAlgorithm.SHA256,
        c14n_algorithm=CanonicalizationMethod.EXCLUSIVE_XML_CANONICALIZATION_1_0,
    )
    key = kit.key("HK-TD")
    with_prefixes = signer.sign(
        _rich_doc(kit),
        key=key.private_key,
        cert=[key.certificate],
        reference_uri="#msg-1",
        inclusive_ns_prefixes=["unused", "x"],
    )
    yield "inclusive prefixes", _to_bytes(with_prefixes), "rsa"


def _to_bytes(root: etree._Element) -> bytes:
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


def test_shortcuts_sign_off_the_same_bytes_as_signxml(kit):
    outcomes = {}
    for name, data, key_type in _cases(kit):
        try:
            expected = _bare(data, kit, key_type=key_type)
        except (InvalidDigest, etree.DocumentInvalid) as exc:
            refusal = DigestMismatch if isinstance(exc, InvalidDigest) else SignatureStructureError
            with pytest.raises(refusal):
                kit.verify(data)
            outcomes[name] = refusal.__name__
            continue
        result = kit.verify(data)
        assert result.signed_bytes == expected, name
        assert etree.tostring(result.element, method="c14n", exclusive=True) == expected
        outcomes[name] = "verified"
    assert outcomes == {
        "plain rsa": "verified",
        "plain ec": "verified",
        "rich": "verified",
        "signature first, with tail": "verified",
        "signature tail altered": "DigestMismatch",
        "comments": "verified",
        # signxml's schema check refuses an InclusiveNamespaces element (strict wildcard)
        "inclusive prefixes": "SignatureStructureError",
    }


def test_a_checked_document_takes_the_shortcuts(kit, monkeypatch):
    """signxml's generic reference lookup and transforms never run for the profile's shape."""
    from signing import verifier

    def generic(name):
        def refuse(self, *args, **kwargs):
            raise AssertionError(f"signxml's own {name} ran")

        return refuse

    for name in ("_resolve_reference", "_apply_transforms"):
        monkeypatch.setattr(XMLVerifier, name, generic(name))
    assert verifier._CheckedTreeVerifier.__mro__[1] is XMLVerifier
    for key_type in ("rsa", "ec"):
        data = kit.signed(_rich_doc(kit), kit.key("HK-TD", key_type))
        assert kit.verify(data).message_id == "0b7f1d2e-5a8c-4c1e-9d3b-6f2a1e0c9b77"
