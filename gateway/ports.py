"""The adapter port: what the core asks of every agency format.

An adapter lives in its own package (``adapters/hk``, ``adapters/macau``) and is found through
the ``gba_gateway.formats`` entry-point group, keyed by region code, so a new agency format
is a new package and never an edit to the core.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

from lxml import etree

from gateway.domain.model import Receipt, Region, StatusReport, Submission
from signing.header import HeaderSpec


class DocumentInvalid(ValueError):
    """An agency document does not validate against the project's schema for it."""

    def __init__(self, document: str, errors: list[str]):
        self.document = document
        self.errors = errors
        super().__init__(f"{document} is not schema-valid: " + "; ".join(errors))


class AgencyFormat(Protocol):
    """Render and check one agency document format (HK CBCE, Macao SIP, ...)."""

    region: Region
    #: XML namespace of the format's documents (how an inbound document finds its format)
    namespace: str
    #: the agency codes this format serves must match this regular expression
    agency_pattern: str
    #: every status code an agency of this format can report (mappings must cover them all)
    status_codes: frozenset[str]
    header: HeaderSpec

    def render_submission(self, submission: Submission) -> etree._Element:
        """The unsigned submission root, carrying an ``Id`` for its signature to reference."""
        ...

    def validate(self, root: etree._Element) -> None:
        """Raise :class:`DocumentInvalid` naming every schema error; signed or not."""
        ...


# --- transports: how a signed document reaches an agency --------------------------------------


class Outcome(StrEnum):
    """What became of one delivery attempt; decides whether the outbox retries."""

    DELIVERED = "delivered"  # first acceptance; receipt verified
    DUPLICATE = "duplicate"  # the agency already had this very message; same receipt
    CONFLICT = "conflict"  # same case ref, different message and content: never retry
    RETRYABLE = "retryable"  # agency down, timeout, connection error: try again later
    PERMANENT = "permanent"  # schema, signature, unknown case…: retrying cannot help


@dataclass(frozen=True)
class DeliveryResult:
    outcome: Outcome
    receipt: Receipt | None = None  # verified, present for DELIVERED and DUPLICATE
    detail: str = ""  # agency fault code and message, HTTP status, or the local error
    fault_code: str | None = None  # CBCE Fault/Code or SIP Erro/Codigo when the agency sent one


class AgencyCallFailed(Exception):
    """A call that returns data (a status fetch) failed; ``result.outcome`` says if retrying helps.

    Every transport raises this (or a subclass), so the core catches one type for all formats.
    """

    def __init__(self, result: DeliveryResult):
        super().__init__(f"{result.outcome}: {result.detail}")
        self.result = result

    @property
    def outcome(self) -> Outcome:
        return self.result.outcome


class AgencyClient(Protocol):
    """One agency endpoint. Every signed answer is verified before it is believed."""

    def submit(self, signed_document: bytes) -> DeliveryResult:
        """Deliver a signed submission; duplicate-safe on the agency side by message id."""
        ...

    def send_supplement(self, case_ref: str, signed_document: bytes) -> DeliveryResult:
        """Deliver documents answering a request for supplements (補正)."""
        ...

    def fetch_status(self, case_ref: str, since_seq: int | None = None) -> StatusReport | None:
        """The agency's verified status for a case (None when it does not know the case).

        Raises :class:`AgencyCallFailed` when the agency cannot be asked or its answer is bad.
        """
        ...

    def close(self) -> None: ...
