"""Column types that behave the same on SQLite and PostgreSQL: aware UTC instants, and
personal data encrypted at rest (bytes, JSON, text) without the repositories noticing."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from sqlalchemy import JSON, DateTime, LargeBinary, Text
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator

from gateway.privacy import keyring, sealing


class UTCDateTime(TypeDecorator[dt.datetime]):
    """A timezone-aware instant, stored in UTC, read back aware on every backend.

    PostgreSQL keeps ``timestamptz``; SQLite keeps text without an offset, so values are
    converted to UTC before writing and tagged UTC when read. Naive datetimes are refused:
    a time without a zone is a bug waiting for a daylight-saving or +08:00 mix-up.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"naive datetime refused (store aware UTC instants): {value!r}")
        if dialect.name != "sqlite":  # timestamptz: any offset is the same instant
            return value
        return value.astimezone(dt.UTC).replace(tzinfo=None)

    def process_result_value(self, value: Any, dialect: Dialect) -> dt.datetime | None:
        return None if value is None else as_utc(value)


def as_utc(value: dt.datetime) -> dt.datetime:
    """A stored instant as :class:`UTCDateTime` reads it: aware, in UTC (SQLite's are naive)."""
    if value.tzinfo is None:
        return value.replace(tzinfo=dt.UTC)
    return value.astimezone(dt.UTC)


class EncryptedBytes(TypeDecorator[bytes]):
    """Bytes sealed with AES-GCM under the engine's data keyring (:mod:`gateway.privacy`).

    What is read back is exactly what was written, byte for byte (a signed document stays
    verifiable and is resent unchanged). ``purpose`` is bound into each value, so a value
    moved to another column does not decrypt there.
    """

    impl = LargeBinary
    cache_ok = True

    def __init__(self, purpose: str):
        super().__init__()
        self.purpose = purpose

    def process_bind_param(self, value: bytes | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        return sealing.seal(keyring.for_dialect(dialect), bytes(value), self.purpose)

    def process_result_value(self, value: Any, dialect: Dialect) -> bytes | None:
        if value is None:
            return None
        return sealing.unseal(keyring.for_dialect(dialect), bytes(value), self.purpose)


class EncryptedJSON(TypeDecorator[Any]):
    """A JSON value sealed with AES-GCM; the column holds a JSON string ``gbe1:…``, so its
    type stays JSON on both backends."""

    impl = JSON
    cache_ok = True

    def __init__(self, purpose: str):
        super().__init__()
        self.purpose = purpose

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        if value is None:
            return None
        text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
        return sealing.seal_text(keyring.for_dialect(dialect), text, self.purpose)

    def process_result_value(self, value: Any, dialect: Dialect) -> Any:
        if value is None:
            return None
        if not isinstance(value, str):
            raise sealing.UnreadableCiphertext(f"a stored {self.purpose} value is not encrypted")
        return json.loads(sealing.unseal_text(keyring.for_dialect(dialect), value, self.purpose))


class EncryptedText(TypeDecorator[str]):
    """Text sealed with AES-GCM, stored as ``gbe1:<key id>:<base64>``."""

    impl = Text
    cache_ok = True

    def __init__(self, purpose: str):
        super().__init__()
        self.purpose = purpose

    def process_bind_param(self, value: str | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        return sealing.seal_text(keyring.for_dialect(dialect), value, self.purpose)

    def process_result_value(self, value: Any, dialect: Dialect) -> str | None:
        if value is None:
            return None
        return sealing.unseal_text(keyring.for_dialect(dialect), value, self.purpose)
