"""Content fingerprints the store compares: SHA-256 of bytes and of canonical JSON."""

from __future__ import annotations

import hashlib
import json
from typing import Any


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def canonical_json(value: Any) -> bytes:
    """Sorted keys, no whitespace, UTF-8: the same value always gives the same bytes.

    Only JSON values are accepted (callers pass ``model_dump(mode="json")``); anything else
    raises ``TypeError`` rather than being stringified into a fingerprint that could drift.
    """
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode()


def json_sha256(value: Any) -> str:
    return sha256_hex(canonical_json(value))
