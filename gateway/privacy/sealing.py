"""AES-256-GCM envelopes that say which key sealed them.

Binary form: ``gbe1:<key id>:<12-byte nonce><ciphertext and tag>``; text form (for JSON and
text columns): ``gbe1:<key id>:<base64 of nonce, ciphertext and tag>``. A fresh random nonce
per value. The associated data is the value's purpose (``cases.application``…), so a value
copied into another column does not decrypt there.
"""

from __future__ import annotations

import base64
import binascii
import os

from cryptography.exceptions import InvalidTag

from gateway.privacy.keyring import DataKeyError, Keyring

MAGIC = "gbe1:"
_MAGIC_BYTES = MAGIC.encode("ascii")
NONCE_BYTES = 12


class UnreadableCiphertext(DataKeyError):
    """A stored value fails authentication: wrong key material under a known id, or altered."""


def is_sealed(value: bytes | str) -> bool:
    if isinstance(value, bytes):
        return value.startswith(_MAGIC_BYTES)
    return value.startswith(MAGIC)


def key_id_of(value: bytes | str) -> str:
    """The id of the key that sealed ``value`` (either form)."""
    raw = value if isinstance(value, bytes) else value.encode("ascii")
    if not raw.startswith(_MAGIC_BYTES):
        raise UnreadableCiphertext("stored value is not encrypted (no gbe1 envelope)")
    key_id, sep, _ = raw[len(_MAGIC_BYTES) :].partition(b":")
    if not sep:
        raise UnreadableCiphertext("stored value has a malformed gbe1 envelope")
    return key_id.decode("ascii")


def seal(keyring: Keyring, plaintext: bytes, purpose: str) -> bytes:
    key = keyring.primary
    nonce = os.urandom(NONCE_BYTES)
    sealed = key.aead.encrypt(nonce, plaintext, purpose.encode("utf-8"))
    return _MAGIC_BYTES + key.key_id.encode("ascii") + b":" + nonce + sealed


def unseal(keyring: Keyring, envelope: bytes, purpose: str) -> bytes:
    key_id = key_id_of(envelope)
    body = envelope[len(_MAGIC_BYTES) + len(key_id) + 1 :]
    nonce, sealed = body[:NONCE_BYTES], body[NONCE_BYTES:]
    try:
        return keyring.get(key_id).aead.decrypt(nonce, sealed, purpose.encode("utf-8"))
    except InvalidTag:
        raise UnreadableCiphertext(
            f"a stored {purpose} value does not decrypt with data key {key_id!r}: the key "
            "under that id is not the one that encrypted it, or the value was altered"
        ) from None


def seal_text(keyring: Keyring, plaintext: str, purpose: str) -> str:
    envelope = seal(keyring, plaintext.encode("utf-8"), purpose)
    head = len(_MAGIC_BYTES) + len(keyring.primary.key_id) + 1
    return envelope[:head].decode("ascii") + base64.b64encode(envelope[head:]).decode("ascii")


def unseal_text(keyring: Keyring, token: str, purpose: str) -> str:
    key_id = key_id_of(token)
    head = len(MAGIC) + len(key_id) + 1
    try:
        body = base64.b64decode(token[head:], validate=True)
    except (binascii.Error, ValueError):
        raise UnreadableCiphertext(f"a stored {purpose} value is not valid base64") from None
    return unseal(keyring, token[:head].encode("ascii") + body, purpose).decode("utf-8")
