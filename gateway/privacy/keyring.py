"""The data keys: which key encrypts, which keys decrypt, and where they come from.

``GBAGW_DATA_KEYS`` is ``keyid:base64key,keyid:base64key…`` (32-byte AES-256 keys): the first
encrypts and every one decrypts, so a rotation is "put the new key first on every machine,
then ``gbagw db rotate-keys``, then drop the old one". Unset, the embedded mode (no broker)
keeps one key in ``var/data.keyring`` (mode 0600; the embedded data directory, beside the
default ``var/gateway.db``), made on first use — a new user needs no setup; a production role
without keys refuses to start rather than make a key the other machines do not have. Keys
never go into the database.

Each store engine is bound to the keyring of the settings that opened it (:func:`bind`), so a
process holding two deployments' stores (tests, the devkit cluster) never mixes their keys;
an unbound engine uses the process's settings.
"""

from __future__ import annotations

import base64
import binascii
import functools
import logging
import os
import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from sqlalchemy import Engine
from sqlalchemy.engine import Dialect

from gateway.config import Settings, settings

log = logging.getLogger(__name__)

KEY_BYTES = 32
KEY_ID = re.compile(r"[A-Za-z0-9_.-]{1,32}")
#: the attribute of an engine's dialect that holds its keyring
_BOUND = "gbagw_keyring"


class DataKeyError(Exception):
    """The data keys are missing, malformed, or lack the key some stored data needs."""


class UnknownDataKey(DataKeyError):
    """Stored data names a key that is not in the keyring (removed too early, or wrong keys)."""


@dataclass(frozen=True)
class DataKey:
    key_id: str
    secret: bytes = field(repr=False)

    @cached_property
    def aead(self) -> AESGCM:
        return AESGCM(self.secret)

    @cached_property
    def hash_key(self) -> bytes:
        """A separate key for ID-number hashes, derived so one setting carries both."""
        hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"gbagw id-number hmac")
        return hkdf.derive(self.secret)


class Keyring:
    """Data keys in order: ``primary`` (the first) encrypts; any of them decrypts."""

    def __init__(self, keys: Sequence[DataKey], source: str):
        if not keys:
            raise DataKeyError(f"{source} holds no data key")
        ids = [k.key_id for k in keys]
        if len(set(ids)) != len(ids):
            raise DataKeyError(f"{source} names a key id twice: {', '.join(ids)}")
        self.keys = tuple(keys)
        self.source = source
        self._by_id = {k.key_id: k for k in keys}

    @property
    def primary(self) -> DataKey:
        return self.keys[0]

    @property
    def ids(self) -> tuple[str, ...]:
        return tuple(self._by_id)

    def get(self, key_id: str) -> DataKey:
        try:
            return self._by_id[key_id]
        except KeyError:
            raise UnknownDataKey(
                f"stored data is encrypted with data key {key_id!r}, which {self.source} does "
                f"not hold (it holds {', '.join(self.ids)}): add that key back to "
                "GBAGW_DATA_KEYS, after the current one, and run `gbagw db rotate-keys`"
            ) from None


def parse(spec: str, source: str = "GBAGW_DATA_KEYS") -> Keyring:
    """``keyid:base64key,…`` → a keyring; every problem names the entry and what is wrong."""
    keys = []
    for number, entry in enumerate((e.strip() for e in spec.split(",")), start=1):
        if not entry:
            continue
        key_id, sep, encoded = entry.partition(":")
        if not sep or not KEY_ID.fullmatch(key_id):
            raise DataKeyError(
                f"{source} entry {number} must be keyid:base64key, the key id 1-32 of "
                "A-Z a-z 0-9 _ . -"
            )
        try:
            secret = base64.b64decode(encoded, validate=True)
        except (binascii.Error, ValueError):
            raise DataKeyError(f"{source} key {key_id!r} is not valid base64") from None
        if len(secret) != KEY_BYTES:
            raise DataKeyError(
                f"{source} key {key_id!r} is {len(secret)} bytes; AES-256 needs {KEY_BYTES}"
            )
        keys.append(DataKey(key_id, secret))
    return Keyring(keys, source)


def new_key_entry(key_id: str | None = None) -> str:
    """A fresh ``keyid:base64key`` entry (what ``GBAGW_DATA_KEYS`` holds)."""
    key_id = key_id or f"k{secrets.token_hex(4)}"
    return f"{key_id}:{base64.b64encode(secrets.token_bytes(KEY_BYTES)).decode('ascii')}"


def key_file(var: Path = Path("var")) -> Path:
    """The embedded mode's keyring file when ``GBAGW_DATA_KEYS`` is unset."""
    return var / "data.keyring"


def read_key_file(path: Path) -> Keyring:
    """The keyring a key file holds (one ``keyid:base64key`` per line)."""
    return parse(path.read_text("ascii").replace("\n", ","), source=str(path))


def _create_key_file(path: Path) -> None:
    """Write a new one-key keyring, mode 0600; a concurrent creator's file wins intact."""
    path.parent.mkdir(parents=True, exist_ok=True)
    draft = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    fd = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="ascii") as handle:
        handle.write(new_key_entry() + "\n")
    try:
        os.link(draft, path)  # atomic and refuses to replace: nobody reads half a key
    except FileExistsError:
        return
    finally:
        draft.unlink()
    log.warning(
        "created the data encryption key %s (embedded mode; keep it: without it the stored "
        "applications cannot be read — set GBAGW_DATA_KEYS in production)",
        path,
    )


@functools.cache
def _load(spec: str, path: Path, embedded: bool) -> Keyring:
    if spec.strip():
        return parse(spec)
    if not path.exists():
        if not embedded:
            raise DataKeyError(
                "GBAGW_DATA_KEYS is not set: a production role (GBAGW_BROKER_URL set) needs the "
                "deployment's data keys (docs/configuration.md); it never makes its own"
            )
        _create_key_file(path)
    if path.stat().st_mode & 0o077:
        log.warning("data key file %s is readable by others: chmod 600 it", path)
    return read_key_file(path)


def load(config: Settings) -> Keyring:
    """The keyring ``config`` names (the same object for the same settings)."""
    return _load(config.data_keys.get_secret_value(), key_file().resolve(), not config.broker_url)


def bind(engine: Engine, keyring: Keyring) -> None:
    """Make ``engine`` encrypt and decrypt with ``keyring``."""
    setattr(engine.dialect, _BOUND, keyring)


def for_dialect(dialect: Dialect) -> Keyring:
    """The keyring of the engine this dialect belongs to, else the process's settings'."""
    bound = getattr(dialect, _BOUND, None)
    return bound if isinstance(bound, Keyring) else load(settings())


def key_error_in(exc: BaseException) -> DataKeyError | None:
    """The :class:`DataKeyError` behind ``exc`` (SQLAlchemy wraps what a column type raises)."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, DataKeyError):
            return current
        seen.add(id(current))
        orig = getattr(current, "orig", None)
        current = (
            orig if isinstance(orig, BaseException) else current.__cause__ or current.__context__
        )
    return None
