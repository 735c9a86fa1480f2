"""The adapter port: what the core asks of every agency format.

An adapter lives in its own package (``adapters/hk``, ``adapters/macau``) and is found through
the ``gba_gateway.formats`` entry-point group, keyed by region code, so a new agency format
is a new package and never an edit to the core.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

from lxml import etree

from gateway.domain import (
    MessageHeader,
    Receipt,
    Region,
    StatusReport,
    Submission,
    Supplement,
)
from signing.header import HeaderSpec


class DocumentInvalid(ValueError):
    """An agency document does not validate against the project's schema for it."""

    def __init__(self, document: str, errors: list[str]):
        self.document = document
        self.errors = errors
        super().__init__(f"{document} is not schema-valid: " + "; ".join(errors))

    def problems(self) -> list[tuple[str, str]]:
        """``(element path, what is wrong)`` per error, said as a refusal of the mapped
        application, the values left out: the schema's messages quote them, and a rendered
        application's values are personal data."""
        described = []
        for error in self.errors:
            found = _SCHEMA_ERROR.match(error)
            path, message = (found["path"], found["message"]) if found else ("", error)
            path = "/".join(step.rpartition(":")[2] for step in path.split("/") if step)
            why = _QUOTED_VALUE.sub(r"\g<lead>the value ", message)
            described.append((path, f"the agency's format refuses it once mapped: {why}"))
        return described


#: libxml2's schema errors, as lxml's error log words them ("line 1: /p:A/p:B: Element …")
_SCHEMA_ERROR = re.compile(r"^line \d+: (?P<path>/\S*): (?:Element '[^']*': )?(?P<message>.*)$")
_QUOTED_VALUE = re.compile(
    r"(?P<lead>^|\] |: )(?:[Tt]he value )?'.*?' (?=is not|has a length|is greater|is less)"
)


class AgencyFormat(Protocol):
    """Render and read one agency document format (HK CBCE, Macao SIP, ...).

    Everything the core and the transports call on a format, and nothing else: what is
    particular to one format (CBCE faults, SIP status queries, what a sandbox agency renders)
    stays on that adapter's own class. Renderers return *unsigned* roots carrying the ``Id``
    their signature will reference; parsers take roots whose signature has already been
    verified and that are schema-valid, and raise :class:`DocumentInvalid` (never anything
    else) when a document is not what they expect.
    """

    region: Region
    #: XML namespace of the format's documents (how an inbound document finds its format)
    namespace: str
    #: the agency codes this format serves must match this regular expression
    agency_pattern: str
    #: every status code an agency of this format can report (mappings must cover them all)
    status_codes: frozenset[str]
    #: where the signed header fields are, for :func:`signing.verify`
    header: HeaderSpec

    # --- gateway -> agency ------------------------------------------------------------------

    def render_submission(self, submission: Submission) -> etree._Element:
        """The unsigned submission root, carrying an ``Id`` for its signature to reference."""
        ...

    def render_supplement(self, supplement: Supplement) -> etree._Element:
        """The unsigned answer to a request for documents (補正), with its ``Id``."""
        ...

    # --- agency -> gateway (roots already verified and schema-valid) -------------------------

    def parse_header(self, root: etree._Element) -> MessageHeader:
        """The header of any signed document of the format."""
        ...

    def parse_receipt(self, root: etree._Element) -> Receipt:
        """The agency's acknowledgement of a submission or supplement."""
        ...

    def parse_status(self, root: etree._Element) -> StatusReport:
        """A status notice or report, statuses still in the agency's own codes."""
        ...

    # --- checks -------------------------------------------------------------------------------

    def submission_fingerprint(self, root: etree._Element) -> str:
        """SHA-256 of what a submission *says* (not its message id, send time or signature):
        equal for a retry of the same content, different for a conflicting repeat."""
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
    #: the agency's signed receipt exactly as received and verified (kept in the store)
    document: bytes | None = None


@dataclass(frozen=True)
class Polled:
    """A status the agency answered when asked (HK pull, Macao poll), believed.

    ``report`` is verified (signed by the agency asked, schema-valid, about the case asked,
    addressed to the gateway) with its events filtered to those after ``since_seq``;
    ``document`` is the signed document as received (the CBCE ``StatusNotice`` body; the SIP
    ``EstadoProcesso`` element serialised standalone from the SOAP body), which
    :func:`signing.verify` accepts as it stands: the store keeps it as the event's source.
    """

    report: StatusReport
    document: bytes


class AgencyCallFailed(Exception):
    """A call that returns data (a status fetch) failed; ``result.outcome`` says if retrying helps.

    Every transport raises this (or a subclass), so the core catches one type for all formats:
    :attr:`Outcome.RETRYABLE` (agency down, timeout) or :attr:`Outcome.PERMANENT` (bad endpoint
    URL, unverifiable answer …), with the reason in ``result.detail``.
    """

    def __init__(self, result: DeliveryResult):
        super().__init__(f"{result.outcome}: {result.detail}")
        self.result = result

    @property
    def outcome(self) -> Outcome:
        return self.result.outcome


class AgencyClient(Protocol):
    """One agency endpoint. Every signed answer is verified before it is believed.

    Believed means: signed by the agency the client was made for, schema-valid, about the case
    asked about and addressed to the gateway (``signing.parties.GATEWAY_PARTY``); anything else
    is :attr:`Outcome.PERMANENT` with the reason. No public method returns an unverified answer.
    Built by the entry point ``connect(url, trust, *, agency, timeout, transport=None)``, where
    ``transport`` is an ``httpx.BaseTransport`` replacing the network (tests), and a URL that is
    not http(s) with a host makes every call PERMANENT.
    """

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

    def poll(self, case_ref: str, since_seq: int | None = None) -> Polled | None:
        """:meth:`fetch_status` with the signed document it came in (None: unknown case).

        An answer that cannot be believed (signature, sender, case, recipient, schema) raises
        :class:`AgencyCallFailed` :attr:`Outcome.PERMANENT` whose ``result.document`` holds the
        bytes received, so the caller can quarantine them; other failures carry no document.
        """
        ...

    def close(self) -> None: ...
