"""The one way in for agency documents (stub: helper fills in).

Pushed documents are stored raw *before* anything else, then verified and applied; fetched
ones (pull, poll) were verified by the transport and are stored with the same checks. A
document that fails verification, names an unknown case, or comes from an agency other than
the one the case was routed to is quarantined: kept, listed, never applied.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy.orm import Session, sessionmaker

from gateway.domain import StatusReport
from gateway.reconcile.apply import Applied
from signing import TrustStore


@dataclass(frozen=True)
class Received:
    message_pk: int
    case_ref: str | None
    #: why the document was quarantined (None: verified and applied)
    quarantined: str | None
    #: quarantine class for the answer to the sender (SCHEMA, SIGNATURE, UNKNOWN_CASE,
    #: UNAUTHORISED) — None when applied
    code: str | None
    applied: Applied | None
    duplicate: bool = False  # these exact bytes were received before


class Inbound:
    """Built once per process: ``sessions`` of the store, ``trust`` for verification."""

    def __init__(self, sessions: sessionmaker[Session], trust: TrustStore):
        self.sessions = sessions
        self.trust = trust

    def receive_pushed(self, body: bytes, *, now: dt.datetime | None = None) -> Received:
        """Store ``body`` raw, then verify, check and apply it."""
        raise NotImplementedError

    def record_fetched(
        self,
        report: StatusReport,
        document: bytes,
        *,
        via: str,
        agency: str,
        now: dt.datetime | None = None,
    ) -> Received:
        """A status the transport fetched (``via`` pull or poll) and verified for ``agency``."""
        raise NotImplementedError

    def quarantine_fetched(
        self,
        document: bytes,
        *,
        via: str,
        agency: str,
        case_ref: str | None,
        reason: str,
        now: dt.datetime | None = None,
    ) -> Received:
        """An answer the transport could not believe: keep it, never apply it."""
        raise NotImplementedError
