"""Keyed hashes of ID numbers: HMAC-SHA256 under a hash key derived from a data key.

Without the keys a digest reveals nothing (an ID number has too little entropy for an
unkeyed hash). Pure functions: the store's index of them is :mod:`gateway.privacy.lookup`.
"""

from __future__ import annotations

import hashlib
import hmac
import re

from gateway.privacy.keyring import DataKey

_NOT_PART = re.compile(r"[\s()\-]")


def normalise(number: str) -> str:
    """One form per document number: ``K628913(4)``, ``k628913 (4)`` and ``K6289134`` agree."""
    return _NOT_PART.sub("", number).upper()


def digest(key: DataKey, number: str) -> str:
    return hmac.new(key.hash_key, normalise(number).encode("utf-8"), hashlib.sha256).hexdigest()
