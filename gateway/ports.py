"""The adapter port: what the core asks of every agency format.

An adapter lives in its own package (``adapters/hk``, ``adapters/macau``) and is found through
the ``gba_gateway.adapters`` entry-point group, keyed by region code, so a new agency format
is a new package and never an edit to the core.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from lxml import etree

from gateway.model import Region, Submission


@dataclass(frozen=True)
class HeaderSpec:
    """Where a signed document of this format names its sender, message id and send time.

    Paths are ElementPath expressions relative to the document root (``{ns}Header/{ns}Sender``).
    ``signing/`` uses them to read the *signed* header; it knows no agency format itself.
    """

    sender: str
    message_id: str
    sent_at: str


class DocumentInvalid(ValueError):
    """An agency document does not validate against the project's schema for it."""

    def __init__(self, document: str, errors: list[str]):
        self.document = document
        self.errors = errors
        super().__init__(f"{document} is not schema-valid: " + "; ".join(errors))


class AgencyFormat(Protocol):
    """Render and check one agency document format (HK CBCE, Macao SIP, ...)."""

    region: Region
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
