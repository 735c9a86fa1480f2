"""The one way in for agency documents.

Pushed documents are stored raw *before* anything else, then verified and applied; fetched
ones (pull, poll) were verified by the transport and are stored with the same checks. A
document that fails verification, names an unknown case, or comes from an agency other than
the one the case was routed to is quarantined: kept, listed, never applied.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass

from lxml import etree
from sqlalchemy.orm import Session, sessionmaker

from gateway.config import settings
from gateway.domain import StatusReport
from gateway.ports import DocumentInvalid
from gateway.reconcile.apply import Applied
from gateway.reconcile.service import SCHEMA, SIGNATURE, UNAUTHORISED, Refused, apply_report
from gateway.registry import format_for_namespace
from gateway.store import transaction
from gateway.store.inbound import Stored, message_id_taken, quarantine, store_received
from gateway.store.tables import Message
from signing import SignatureRejected, TrustStore, parse_untrusted, verify
from signing.verifier import Verified

log = logging.getLogger(__name__)


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


class BodyTooLarge(ValueError):
    """More bytes than ``max_input_bytes``: nothing was stored."""


class Inbound:
    """Built once per process: ``sessions`` of the store, ``trust`` for verification."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        trust: TrustStore,
        *,
        max_bytes: int | None = None,
    ):
        self.sessions = sessions
        self.trust = trust
        self.max_bytes = max_bytes or settings().max_input_bytes

    def receive_pushed(
        self, body: bytes, *, pushed_by: str | None = None, now: dt.datetime | None = None
    ) -> Received:
        """Store ``body`` raw, then verify, check and apply it; ``pushed_by`` (the agency of
        the authenticated client that pushed it) must be the agency that signed it."""
        now = now or dt.datetime.now(dt.UTC)
        if len(body) > self.max_bytes:
            raise BodyTooLarge(f"{len(body)} bytes; at most {self.max_bytes} are accepted")
        with transaction(self.sessions) as session:  # first, and committed on its own
            # the pushing client's agency until verified: a quarantined push still says who
            stored = store_received(
                session, body, via="push", kind="received", counterpart=pushed_by, now=now
            )
        if stored.verified:  # applied when it came the first time: nothing changes
            if pushed_by is not None and stored.counterpart != pushed_by:
                # answered as a fresh push from this client would be: a repeat must not tell
                # another agency whether a document was received (nothing is stored again)
                reason = f"signed by {stored.counterpart}, pushed by {pushed_by}"
                return Received(stored.pk, None, reason, UNAUTHORISED, None, duplicate=True)
            return Received(stored.pk, stored.case_ref, None, None, None, duplicate=True)
        try:
            verified, report = self._verify(body)
            if pushed_by is not None and verified.sender != pushed_by:
                raise Refused(UNAUTHORISED, f"signed by {verified.sender}, pushed by {pushed_by}")
        except Refused as exc:
            return self._quarantine(stored, exc, None, None)
        return self._apply(stored, report, verified.sender, "push", now, fmt_kind(verified))

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
        now = now or dt.datetime.now(dt.UTC)
        with transaction(self.sessions) as session:
            stored = store_received(
                session, document, via=via, kind="status", counterpart=agency, now=now
            )
        return self._apply(stored, report, agency, via, now, "status")

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
        now = now or dt.datetime.now(dt.UTC)
        with transaction(self.sessions) as session:
            stored = store_received(
                session, document, via=via, kind="status", counterpart=agency, now=now
            )
            quarantine(session, stored.pk, reason, case_ref=case_ref, counterpart=agency)
        return Received(stored.pk, case_ref, reason, SIGNATURE, None, duplicate=stored.duplicate)

    # --- steps -------------------------------------------------------------------------------

    def _verify(self, body: bytes) -> tuple[Verified, StatusReport]:
        """Safe parse, the format by namespace, schema, signature (at the real time of
        receipt, whatever ``now`` the records get), the status report."""
        try:
            root = parse_untrusted(body)
        except SignatureRejected as exc:
            raise Refused(SCHEMA, f"not a well-formed, safe document ({exc.reason})") from None
        fmt = format_for_namespace(etree.QName(root).namespace or "")
        if fmt is None:
            raise Refused(SCHEMA, f"no installed format for {etree.QName(root).namespace!r}")
        try:
            fmt.validate(root)
        except DocumentInvalid as exc:
            raise Refused(SCHEMA, f"not a valid document: {exc}") from None
        try:
            verified = verify(body, self.trust, fmt.header)
        except SignatureRejected as exc:
            raise Refused(SIGNATURE, f"signature rejected ({exc.reason}): {exc}") from None
        try:
            report = fmt.parse_status(verified.element)
        except (DocumentInvalid, ValueError) as exc:
            raise Refused(SCHEMA, f"not a status document: {exc}") from None
        return verified, report

    def _apply(
        self,
        stored: Stored,
        report: StatusReport,
        agency: str,
        via: str,
        now: dt.datetime,
        kind: str,
    ) -> Received:
        case_ref = report.header.case_ref
        message_id = report.header.message_id
        try:
            with transaction(self.sessions) as session:
                pk = stored.pk
                row = session.get(Message, pk, with_for_update=True)
                assert row is not None, "stored in the transaction before"
                if row.verified:  # a concurrent receiver of the same bytes applied it
                    return Received(pk, row.case_ref, None, None, None, duplicate=True)
                other = message_id_taken(session, message_id, other_than=pk)
                if other is not None and other.sha256 != row.sha256:
                    raise Refused(UNAUTHORISED, "message id reused with other content")
                if other is not None:  # the same bytes stored twice by a race: keep the first
                    session.delete(row)
                    session.flush()
                    row, pk = other, other.id
                applied = apply_report(
                    session, report, agency=agency, source=via, now=now, message_pk=pk
                )
                row.verified, row.quarantine_reason = True, None
                row.message_id, row.case_ref = message_id, case_ref
                row.counterpart, row.kind = agency, kind
        except Refused as exc:
            return self._quarantine(stored, exc, case_ref, agency)
        log.info("%s %s for %s applied: %s", via, message_id, case_ref, applied.stored)
        return Received(pk, case_ref, None, None, applied, duplicate=stored.duplicate)

    def _quarantine(
        self, stored: Stored, exc: Refused, case_ref: str | None, agency: str | None
    ) -> Received:
        reason = f"{exc.code}: {exc.reason}"
        with transaction(self.sessions) as session:
            quarantine(session, stored.pk, reason, case_ref=case_ref, counterpart=agency)
        log.warning("message %d quarantined: %s", stored.pk, reason)
        return Received(stored.pk, case_ref, reason, exc.code, None, duplicate=stored.duplicate)


def fmt_kind(verified: Verified) -> str:
    """The document's kind: its root element's local name (StatusNotice, EstadoProcesso)."""
    return etree.QName(verified.element).localname
