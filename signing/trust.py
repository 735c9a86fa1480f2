"""Which certificate the gateway accepts from which party, and when.

Trust is *pinned*: a certificate counts only because the operator registered it for one party
(``HK-TD``, ``MO-DSAT``, ``GD-GBA-GW`` …) with an acceptance period. No CA bundle is consulted,
so a certificate another agency — or anyone with a public CA — obtains verifies nothing for a
party it was not registered for. A certificate is accepted at an instant when that instant is
inside both its X.509 validity and its acceptance period; during a key rotation a party has two
overlapping registrations, and the old one's period ends when the window closes.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509

from signing.errors import CertificateExpired, CertificateNotYetValid
from signing.keys import fingerprint as cert_fingerprint

DEFAULT_CLOCK_SKEW = timedelta(seconds=300)


class TrustConfigError(ValueError):
    """The trust configuration on disk is inconsistent (missing file, fingerprint changed …)."""


def as_utc(moment: datetime) -> datetime:
    """Refuse naive datetimes: a trust decision must never depend on the host's time zone."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{moment!r} has no time zone")
    return moment.astimezone(UTC)


@dataclass(frozen=True)
class RegisteredCertificate:
    """One certificate registered for one party, with the period it is accepted in."""

    party: str
    certificate: x509.Certificate
    accepted_from: datetime
    accepted_until: datetime
    #: where it came from (file name in the key directory), for operators
    source: str | None = None
    fingerprint: str = field(init=False)
    #: the X.509 validity, converted once (cryptography builds a new datetime per access)
    not_valid_before: datetime = field(init=False, repr=False)
    not_valid_after: datetime = field(init=False, repr=False)
    #: start / end of acceptance: the X.509 validity intersected with the acceptance period
    valid_from: datetime = field(init=False)
    valid_until: datetime = field(init=False)

    def __post_init__(self) -> None:
        set_ = object.__setattr__  # frozen: derived fields are computed once, here
        set_(self, "accepted_from", as_utc(self.accepted_from))
        set_(self, "accepted_until", as_utc(self.accepted_until))
        set_(self, "fingerprint", cert_fingerprint(self.certificate))
        set_(self, "not_valid_before", self.certificate.not_valid_before_utc)
        set_(self, "not_valid_after", self.certificate.not_valid_after_utc)
        set_(self, "valid_from", max(self.accepted_from, self.not_valid_before))
        set_(self, "valid_until", min(self.accepted_until, self.not_valid_after))

    def accepted_at(self, moment: datetime, skew: timedelta = timedelta(0)) -> bool:
        return self.valid_from - skew <= as_utc(moment) <= self.valid_until + skew

    def check_time(self, moment: datetime, what: str, skew: timedelta = DEFAULT_CLOCK_SKEW) -> None:
        """Raise :class:`CertificateNotYetValid` / :class:`CertificateExpired` naming the bound."""
        if moment.tzinfo is not UTC:
            moment = as_utc(moment)
        if moment < self.valid_from - skew:
            bound = (
                "its X.509 notBefore"
                if self.valid_from == self.not_valid_before
                else "its acceptance period"
            )
            raise CertificateNotYetValid(
                f"certificate {self.fingerprint[:16]}… of {self.party} is not valid at {what} "
                f"{moment.isoformat()}: {bound} starts {self.valid_from.isoformat()}"
            )
        if moment > self.valid_until + skew:
            bound = (
                "its X.509 notAfter"
                if self.valid_until == self.not_valid_after
                else "its acceptance (rotation) window"
            )
            raise CertificateExpired(
                f"certificate {self.fingerprint[:16]}… of {self.party} is no longer valid at "
                f"{what} {moment.isoformat()}: {bound} ended {self.valid_until.isoformat()}"
            )


class TrustStore:
    """Registered certificates, looked up by party and by SHA-256 fingerprint.

    A fingerprint belongs to exactly one party: registering the same certificate for a second
    party is refused, so "whose certificate is this?" always has one answer.
    """

    def __init__(self, registrations: Iterable[RegisteredCertificate] = ()):
        self._by_party: dict[str, tuple[RegisteredCertificate, ...]] = {}
        self._by_fingerprint: dict[str, RegisteredCertificate] = {}
        for registration in registrations:
            self.add(registration)

    @classmethod
    def from_dir(cls, path: str | Path) -> TrustStore:
        """Load ``trust.yaml`` (and the certificate files it names) from a key directory."""
        from signing.keydir import KeyDirectory  # the layout lives there

        return KeyDirectory(path).trust_store()

    def register(
        self,
        party: str,
        certificate: x509.Certificate,
        *,
        accepted_from: datetime | None = None,
        accepted_until: datetime | None = None,
        source: str | None = None,
    ) -> RegisteredCertificate:
        """Accept ``certificate`` for ``party`` (by default for its whole X.509 validity)."""
        registration = RegisteredCertificate(
            party=party,
            certificate=certificate,
            accepted_from=accepted_from or certificate.not_valid_before_utc,
            accepted_until=accepted_until or certificate.not_valid_after_utc,
            source=source,
        )
        self.add(registration)
        return registration

    def add(self, registration: RegisteredCertificate) -> None:
        existing = self._by_fingerprint.get(registration.fingerprint)
        if existing is not None:
            raise TrustConfigError(
                f"certificate {registration.fingerprint} is already registered for "
                f"{existing.party}; one certificate belongs to one party"
            )
        self._by_fingerprint[registration.fingerprint] = registration
        current = self._by_party.get(registration.party, ())
        ordered = sorted((*current, registration), key=lambda r: r.accepted_from)
        self._by_party[registration.party] = tuple(ordered)

    def certificates_for(self, party: str) -> tuple[RegisteredCertificate, ...]:
        """Every registration of ``party``, oldest acceptance first (empty when unknown)."""
        return self._by_party.get(party, ())

    def accepted_for(
        self, party: str, moment: datetime, skew: timedelta = timedelta(0)
    ) -> tuple[RegisteredCertificate, ...]:
        """The registrations of ``party`` accepted at ``moment`` (two during a rotation)."""
        return tuple(r for r in self.certificates_for(party) if r.accepted_at(moment, skew))

    def by_fingerprint(self, fingerprint: str) -> RegisteredCertificate | None:
        return self._by_fingerprint.get(fingerprint.lower())

    def parties(self) -> list[str]:
        return sorted(self._by_party)

    def __iter__(self) -> Iterator[RegisteredCertificate]:
        for party in self.parties():
            yield from self._by_party[party]

    def __len__(self) -> int:
        return len(self._by_fingerprint)
