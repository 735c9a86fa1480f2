"""The key directory: keys, certificates and ``trust.yaml``, laid out for an operator to read.

::

    <dir>/
      trust.yaml                          what is accepted from whom, until when (operator-editable)
      ca/ca.cert.pem, ca/ca.key.pem       development CA (not used for trust: trust is pinning)
      parties/<CODE>/<label>.cert.pem     one file per registered certificate
      parties/<CODE>/<label>.key.pem      its private key, for the gateway and sandbox agencies

``<label>`` is the issue time plus the fingerprint's first 8 hex digits
(``20251127T071200Z-1a2b3c4d``), so a rotation adds files and never overwrites one. The
``fingerprint`` recorded in ``trust.yaml`` is checked when the store is loaded: a certificate
file swapped on disk stops the gateway instead of being trusted silently.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import yaml
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from signing.devca import (
    KeyType,
    create_ca,
    generate_key,
    issue_certificate,
    key_type_of,
    write_certificate,
    write_private_key,
)
from signing.keys import SigningKey
from signing.keys import fingerprint as cert_fingerprint
from signing.parties import GATEWAY_PARTY
from signing.trust import RegisteredCertificate, TrustConfigError, TrustStore, as_utc

SANDBOX_AGENCIES = (
    "HK-TD",
    "HK-CR",
    "HK-SWD",
    "HK-HKPF",
    "HK-IMMD",
    "MO-DSAT",
    "MO-CRCBM",
    "MO-FSS",
    "MO-DSI",
    "MO-DSEDT",
)
DEFAULT_ROTATION_WINDOW = timedelta(days=7)
#: the longest rotation window: an old certificate accepted for over a year is no rotation
MAX_ROTATION_WINDOW = timedelta(days=365)
DEFAULT_VALIDITY = timedelta(days=730)
TRUST_FILE = "trust.yaml"
#: party codes also name directories, so nothing but upper-case words joined by hyphens
_PARTY_CODE = re.compile(r"[A-Z0-9]+(?:-[A-Z0-9]+)+")

_HEADER = """\
# Certificates the gateway accepts, per party (written by `gbagw keys init` / `keys rotate`).
# A certificate is accepted at an instant inside both [accepted_from, accepted_until] and its
# own X.509 validity. During a rotation window a party has two entries; the old one's
# accepted_until is the end of the window. Operators may shorten accepted_until or add a
# party's certificate by hand. `fingerprint` (SHA-256 of the DER certificate) is checked on
# load. Trust is by this list only: the development CA below is not consulted.
"""


class KeyChangeRefused(ValueError):
    """A change to the key directory refused for what was asked (party code, the party's
    registrations, the window): nothing was written."""

    def __str__(self) -> str:  # also for the KeyError subclass, which would quote it
        return str(self.args[0]) if self.args else ""


class PartyNotRegistered(KeyChangeRefused, KeyError):
    """``rotate`` of a party with no certificate (a ``KeyError`` too, as it always was)."""


class PartyAlreadyRegistered(KeyChangeRefused):
    """``add_certificate`` for a party that has one: a second one is a rotation."""


class CertificateRefused(KeyChangeRefused):
    """The certificate itself cannot be registered: registered already, a key the specs do
    not allow, expired, or starting after the rotation window ends."""


def certificate_problem(certificate: x509.Certificate, now: datetime | None = None) -> str | None:
    """Why ``certificate`` cannot be registered for a party (None when it can): its key is not
    RSA of 2048 bits or more nor ECDSA P-256 (nothing signed with it would verify), or, with
    ``now``, it has expired."""
    try:
        public = certificate.public_key()
    except ValueError as exc:  # a key cryptography cannot read
        return f"its public key cannot be read ({exc})"
    if isinstance(public, rsa.RSAPublicKey):
        if public.key_size < 2048:
            return f"its key is RSA-{public.key_size}; the specs allow RSA-2048 or more"
    elif isinstance(public, ec.EllipticCurvePublicKey):
        if not isinstance(public.curve, ec.SECP256R1):
            return f"its key is ECDSA {public.curve.name}; the specs allow ECDSA P-256 only"
    else:
        kind = type(public).__name__.removeprefix("_").removesuffix("PublicKey")
        return f"its key is {kind}; the specs allow RSA-2048 or ECDSA P-256"
    if now is not None and certificate.not_valid_after_utc <= as_utc(now):
        return f"it expired {_iso(certificate.not_valid_after_utc)}"
    return None


def check_party_code(party: str) -> str:
    """``party`` when it is a party code (upper-case words joined by hyphens: it also names a
    directory), else :class:`KeyChangeRefused`."""
    if not _PARTY_CODE.fullmatch(party):
        raise KeyChangeRefused(f"{party!r} is not a party code like HK-TD or GD-GBA-GW")
    return party


@dataclass(frozen=True)
class TrustEntry:
    """One line of ``trust.yaml``: a certificate file, its optional key, its acceptance."""

    party: str
    certificate: str
    fingerprint: str
    accepted_from: datetime
    accepted_until: datetime
    key: str | None = None

    def to_yaml(self) -> dict[str, Any]:
        entry: dict[str, Any] = {"certificate": self.certificate}
        if self.key:
            entry["key"] = self.key
        entry["fingerprint"] = self.fingerprint
        entry["accepted_from"] = _iso(self.accepted_from)
        entry["accepted_until"] = _iso(self.accepted_until)
        return entry


class KeyDirectory:
    """Read and change one key directory; every change rewrites ``trust.yaml`` atomically."""

    def __init__(self, path: str | Path):
        self.path = Path(path)

    @property
    def trust_file(self) -> Path:
        return self.path / TRUST_FILE

    @property
    def ca_cert_path(self) -> Path:
        return self.path / "ca" / "ca.cert.pem"

    @property
    def ca_key_path(self) -> Path:
        return self.path / "ca" / "ca.key.pem"

    # --- creating ---------------------------------------------------------------------------

    def init(
        self,
        *,
        key_type: KeyType = "rsa",
        agencies: Iterable[str] = SANDBOX_AGENCIES,
        now: datetime | None = None,
        validity: timedelta = DEFAULT_VALIDITY,
        force: bool = False,
    ) -> list[TrustEntry]:
        """Create the development CA, the gateway's key and one key per sandbox agency.

        Each party gets one key however often it is named (the gateway's is always made);
        a code that is not a party code is refused before anything is written.
        """
        if self.trust_file.exists() and not force:
            raise FileExistsError(f"{self.trust_file} exists; refusing to replace keys")
        if validity <= timedelta(0):
            raise ValueError(f"validity must be above zero, not {validity}")
        parties = list(dict.fromkeys(check_party_code(p) for p in (GATEWAY_PARTY, *agencies)))
        now = _now(now)
        ca_key, ca_cert = create_ca(now, key_type=key_type)
        write_private_key(self.ca_key_path, ca_key)
        write_certificate(self.ca_cert_path, ca_cert)
        entries = [
            self._issue(party, key_type, now, now + validity, ca_key, ca_cert) for party in parties
        ]
        self._write(entries)
        return entries

    def add_certificate(
        self,
        party: str,
        certificate: x509.Certificate,
        *,
        accepted_from: datetime | None = None,
        accepted_until: datetime | None = None,
    ) -> TrustEntry:
        """Register the first certificate of a party, as sent (no private key): e.g. a real
        agency's. A party that has one already is refused: replacing it is :meth:`rotate`."""
        check_party_code(party)
        entries = self._usable_entries()
        if any(e.party == party for e in entries):
            raise PartyAlreadyRegistered(
                f"{party} is already registered; use `gbagw keys rotate --agency {party} "
                "--certificate …` to replace its certificate"
            )
        _refuse_registered(entries, certificate)
        entry = self._store(party, certificate, None, accepted_from, accepted_until)
        self._write([*entries, entry])
        return entry

    def rotate(
        self,
        party: str,
        window: timedelta = DEFAULT_ROTATION_WINDOW,
        *,
        now: datetime | None = None,
        certificate: x509.Certificate | None = None,
        validity: timedelta = DEFAULT_VALIDITY,
    ) -> TrustEntry:
        """Add a new certificate for ``party`` and end the old ones' acceptance at now+window.

        Without ``certificate`` a new key of the same type is generated and certified by the
        development CA (the gateway's own key and sandbox agencies: parties whose key is held
        here); with one, the party's new certificate is registered as received. A window of
        zero ends the old certificates' acceptance now (a leaked key); at most
        :data:`MAX_ROTATION_WINDOW`.
        """
        if not timedelta(0) <= window <= MAX_ROTATION_WINDOW:
            raise KeyChangeRefused(
                f"the rotation window must be 0 to {MAX_ROTATION_WINDOW.days} days, not {window}"
            )
        if validity <= timedelta(0):
            raise ValueError(f"validity must be above zero, not {validity}")
        now = _now(now)
        window_end = now + window
        entries = self._usable_entries()
        current = [e for e in entries if e.party == party]
        if not current:
            raise PartyNotRegistered(f"{party} has no registered certificate to rotate")
        if certificate is None:
            with_key = [e for e in current if e.key]
            if not with_key:
                raise KeyChangeRefused(
                    f"no private key of {party} is held here (its certificates were sent by "
                    "the party): give its new certificate with --certificate"
                )
            key_type = key_type_of(self._load_key(with_key[-1]).private_key)
            ca_key, ca_cert = self._load_ca()
            new = self._issue(party, key_type, now, now + validity, ca_key, ca_cert)
        else:
            _refuse_registered(entries, certificate)
            if certificate.not_valid_before_utc > window_end:
                raise CertificateRefused(
                    f"it is valid only from {_iso(certificate.not_valid_before_utc)}, after the "
                    f"old certificates stop being accepted ({_iso(window_end)}): {party} would "
                    "have none in between; use a longer --window-days"
                )
            new = self._store(party, certificate, None, now, None)
        updated = [
            replace(e, accepted_until=min(e.accepted_until, window_end)) if e.party == party else e
            for e in entries
        ]
        self._write([*updated, new])
        return new

    # --- reading ----------------------------------------------------------------------------

    def entries(self) -> list[TrustEntry]:
        """Every entry of ``trust.yaml`` in file order."""
        try:
            document = yaml.safe_load(self.trust_file.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise TrustConfigError(
                f"{self.trust_file} not found: run `gbagw keys init {self.path}`"
            ) from None
        except (OSError, UnicodeDecodeError) as exc:
            raise TrustConfigError(f"{self.trust_file}: cannot read: {exc}") from None
        except yaml.YAMLError as exc:
            where = getattr(exc, "problem_mark", None)
            at = f" (line {where.line + 1})" if where is not None else ""
            raise TrustConfigError(f"{self.trust_file}: not YAML{at}") from None
        if not isinstance(document, dict) or document.get("version") != 1:
            raise TrustConfigError(f"{self.trust_file}: expected a mapping with version: 1")
        parties = document.get("parties") or {}
        if not isinstance(parties, dict):
            raise TrustConfigError(f"{self.trust_file}: 'parties' must be a mapping")
        entries = []
        for party, items in parties.items():
            if not isinstance(items, list | None):
                raise TrustConfigError(f"{self.trust_file}: {party} must have a list of entries")
            for item in items or []:
                entries.append(_entry_from_yaml(self.trust_file, str(party), item))
        return entries

    def _usable_entries(self) -> list[TrustEntry]:
        """:meth:`entries`, once the store they make loads (files there, fingerprints
        unchanged): a change never builds on a broken trust list."""
        self.trust_store()
        return self.entries()

    def trust_store(self) -> TrustStore:
        """Every registered certificate, fingerprints checked against ``trust.yaml``."""
        store = TrustStore()
        for entry in self.entries():
            cert = self._load_cert(entry)
            store.add(
                RegisteredCertificate(
                    party=entry.party,
                    certificate=cert,
                    accepted_from=entry.accepted_from,
                    accepted_until=entry.accepted_until,
                    source=entry.certificate,
                )
            )
        return store

    def signing_key(self, party: str, now: datetime | None = None) -> SigningKey:
        """The newest key of ``party`` accepted now: after a rotation, the new one signs."""
        now = _now(now)
        usable = [e for e in self.entries() if e.party == party and e.key and _accepted(e, now)]
        if not usable:
            raise KeyError(f"no private key of {party} is accepted at {now.isoformat()}")
        # newest acceptance wins; on a tie the later entry in trust.yaml (the rotation's)
        newest = max(enumerate(usable), key=lambda pair: (pair[1].accepted_from, pair[0]))[1]
        return self._load_key(newest)

    def gateway_key(self, now: datetime | None = None) -> SigningKey:
        return self.signing_key(GATEWAY_PARTY, now)

    def agency_key(self, code: str, now: datetime | None = None) -> SigningKey:
        return self.signing_key(code, now)

    # --- internals --------------------------------------------------------------------------

    def _issue(
        self,
        party: str,
        key_type: KeyType,
        not_before: datetime,
        not_after: datetime,
        ca_key: Any,
        ca_cert: x509.Certificate,
    ) -> TrustEntry:
        key = generate_key(key_type)
        cert = issue_certificate(ca_key, ca_cert, party, key.public_key(), not_before, not_after)
        return self._store(party, cert, key, not_before, None)

    def _store(
        self,
        party: str,
        cert: x509.Certificate,
        key: Any,
        accepted_from: datetime | None,
        accepted_until: datetime | None,
    ) -> TrustEntry:
        check_party_code(party)
        fingerprint = cert_fingerprint(cert)
        accepted_from = as_utc(accepted_from or cert.not_valid_before_utc)
        label = f"{accepted_from:%Y%m%dT%H%M%SZ}-{fingerprint[:8]}"
        cert_rel = f"parties/{party}/{label}.cert.pem"
        write_certificate(self.path / cert_rel, cert)
        key_rel = None
        if key is not None:
            key_rel = f"parties/{party}/{label}.key.pem"
            write_private_key(self.path / key_rel, key)
        return TrustEntry(
            party=party,
            certificate=cert_rel,
            fingerprint=fingerprint,
            accepted_from=accepted_from,
            accepted_until=as_utc(accepted_until or cert.not_valid_after_utc),
            key=key_rel,
        )

    def _load_cert(self, entry: TrustEntry) -> x509.Certificate:
        path = self.path / entry.certificate
        try:
            cert = x509.load_pem_x509_certificate(path.read_bytes())
        except (OSError, ValueError) as exc:
            raise TrustConfigError(f"{path}: cannot read certificate: {_why(exc)}") from None
        if cert_fingerprint(cert) != entry.fingerprint:
            raise TrustConfigError(
                f"{path}: fingerprint is {cert_fingerprint(cert)}, trust.yaml says "
                f"{entry.fingerprint}; refusing a certificate changed on disk"
            )
        return cert

    def _load_ca(self) -> tuple[Any, x509.Certificate]:
        path = self.ca_key_path
        try:
            key = serialization.load_pem_private_key(path.read_bytes(), None)
            path = self.ca_cert_path
            return key, x509.load_pem_x509_certificate(path.read_bytes())
        except (OSError, ValueError, TypeError) as exc:
            raise TrustConfigError(f"{path}: cannot read the development CA: {_why(exc)}") from None

    def _load_key(self, entry: TrustEntry) -> SigningKey:
        assert entry.key is not None
        self._load_cert(entry)  # fingerprint check
        try:
            return SigningKey.load(self.path / entry.key, self.path / entry.certificate)
        except (OSError, ValueError, TypeError) as exc:
            why = _why(exc)
            raise TrustConfigError(f"{self.path / entry.key}: cannot read the key: {why}") from None

    def _write(self, entries: list[TrustEntry]) -> None:
        seen: dict[str, str] = {}
        for entry in entries:
            if entry.fingerprint in seen:
                raise TrustConfigError(
                    f"certificate {entry.fingerprint[:16]}… is already registered for "
                    f"{seen[entry.fingerprint]}; one certificate belongs to one party"
                )
            seen[entry.fingerprint] = entry.party
        parties: dict[str, list[dict[str, Any]]] = {}
        for entry in entries:
            parties.setdefault(entry.party, []).append(entry.to_yaml())
        body = yaml.safe_dump(
            {"version": 1, "development_ca": "ca/ca.cert.pem", "parties": parties},
            sort_keys=False,
            allow_unicode=True,
        )
        self.path.mkdir(parents=True, exist_ok=True)
        tmp = self.trust_file.with_suffix(".yaml.tmp")
        tmp.write_text(_HEADER + body, encoding="utf-8")
        os.replace(tmp, self.trust_file)


def _refuse_registered(entries: list[TrustEntry], certificate: x509.Certificate) -> None:
    problem = certificate_problem(certificate)
    if problem is not None:
        raise CertificateRefused(problem)
    fingerprint = cert_fingerprint(certificate)
    for entry in entries:
        if entry.fingerprint == fingerprint:
            raise CertificateRefused(
                f"certificate {fingerprint[:16]}… is already registered for {entry.party}"
            )


def _why(exc: Exception) -> str:
    """The reason in ``exc`` without cryptography's FAQ link or a path said already."""
    if isinstance(exc, OSError):
        return exc.strerror or type(exc).__name__
    return str(exc).split(" See https://", 1)[0] or type(exc).__name__


def _entry_from_yaml(source: Path, party: str, item: Any) -> TrustEntry:
    if not isinstance(item, dict):
        raise TrustConfigError(f"{source}: entries of {party} must be mappings")
    for name in ("certificate", "key"):
        if item.get(name) is not None and not isinstance(item[name], str):
            raise TrustConfigError(f"{source}: bad entry for {party}: {name} must be a file name")
    try:
        return TrustEntry(
            party=party,
            certificate=str(item["certificate"]),
            fingerprint=str(item["fingerprint"]).lower().replace(":", ""),
            accepted_from=_parse_time(item["accepted_from"]),
            accepted_until=_parse_time(item["accepted_until"]),
            key=str(item["key"]) if item.get("key") else None,
        )
    except (KeyError, ValueError, TypeError) as exc:
        raise TrustConfigError(f"{source}: bad entry for {party}: {exc!r}") from None


def _parse_time(value: Any) -> datetime:
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    return as_utc(moment)


def _iso(moment: datetime) -> str:
    return as_utc(moment).isoformat().replace("+00:00", "Z")


def _now(now: datetime | None) -> datetime:
    return as_utc(now) if now is not None else datetime.now(UTC).replace(microsecond=0)


def _accepted(entry: TrustEntry, now: datetime) -> bool:
    return entry.accepted_from <= now <= entry.accepted_until
