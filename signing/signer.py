"""Sign a document root the way HK CBCE 1.0 and Macao SIP 1.0 require.

Enveloped XML-DSig over the root by its ``Id`` (``URI="#<Id>"``), exclusive C14N for both the
``SignedInfo`` and the reference (transforms: enveloped-signature, exclusive C14N), SHA-256
digest, RSA-SHA256 or ECDSA-SHA256 according to the key, ``ds:`` prefix, and
``KeyInfo/X509Data`` carrying the signer's certificate only (no ``KeyValue``: Debian's xmlsec1
cannot read EC keys from it, and it would only duplicate the certificate). The signature is the
root's last child.
"""

from __future__ import annotations

from lxml import etree
from signxml import XMLSigner
from signxml.algorithms import CanonicalizationMethod, DigestAlgorithm, SignatureConstructionMethod

from signing.algorithms import DS_NS
from signing.keys import SigningKey


def sign(root: etree._Element, key: SigningKey) -> etree._Element:
    """Return a new, signed copy of ``root`` (which is left untouched).

    ``root`` must carry an ``Id`` attribute and no signature yet.
    """
    root_id = root.get("Id")
    if not root_id:
        raise ValueError(f"{root.tag} has no Id attribute for the signature to reference")
    if next(root.iter(f"{{{DS_NS}}}Signature"), None) is not None:
        raise ValueError(f"{root.tag} already carries a ds:Signature")
    # A new signer per call: cheap, and signxml objects keep per-call state.
    signer = XMLSigner(
        method=SignatureConstructionMethod.enveloped,
        signature_algorithm=key.signature_method,
        digest_algorithm=DigestAlgorithm.SHA256,
        c14n_algorithm=CanonicalizationMethod.EXCLUSIVE_XML_CANONICALIZATION_1_0,
    )
    return signer.sign(
        root,
        key=key.private_key,
        cert=[key.certificate],
        reference_uri=f"#{root_id}",
        id_attribute="Id",
    )
