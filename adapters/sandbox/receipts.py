"""A repeat gets the receipt the agency already gave, vouched for by the key it holds now.

The first answer to a submission or supplement is stored signed. While the agency's key is
unchanged a repeat gets those bytes again, byte for byte. Once the key changed — a rotation,
or the ``wrong_key`` fault fixed — the stored signature no longer verifies for the gateway, so
the same receipt (same MessageId, agency case ref and times) is signed again with the current
key and stored in place of the old bytes. The content is the agency's record and never
changes; a signature only vouches for it with the key in force when it is handed out.

Format-neutral: both formats sign with one enveloped ``ds:Signature`` as the root's last
child, so the signature can be taken off and put on again without knowing the document.
"""

from __future__ import annotations

import base64

from cryptography.hazmat.primitives.serialization import Encoding
from lxml import etree

from signing import SigningKey, parse_untrusted, sign
from signing.algorithms import DS_NS

_CERTIFICATE = f"{{{DS_NS}}}KeyInfo/{{{DS_NS}}}X509Data/{{{DS_NS}}}X509Certificate"


def signed_now(stored: bytes, key: SigningKey) -> bytes:
    """``stored`` when ``key`` signed it, else the same document re-signed with ``key``."""
    root = parse_untrusted(stored)
    signature = root.find(f"{{{DS_NS}}}Signature")
    if signature is not None:
        if _signer_der(signature) == key.certificate.public_bytes(Encoding.DER):
            return stored
        root.remove(signature)
    declared = stored.lstrip().startswith(b"<?xml")  # keep the format's own serialisation
    return etree.tostring(sign(root, key), encoding="UTF-8", xml_declaration=declared)


def _signer_der(signature: etree._Element) -> bytes | None:
    text = signature.findtext(_CERTIFICATE)
    if not text:
        return None
    return base64.b64decode("".join(text.split()))
