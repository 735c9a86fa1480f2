"""The one way in for agency documents.

Pushed documents are stored raw *before* anything else, then verified and applied; fetched
ones (pull, poll) were verified by the transport and are stored with the same checks. A
document that fails verification, names an unknown case, or comes from an agency other than
the one the case was routed to is quarantined: kept, listed, never applied.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, NamedTuple, cast

from lxml import etree
from sqlalchemy import ColumnElement, delete, or_, select, union
from sqlalchemy.orm import Session, sessionmaker

from gateway.config import settings
from gateway.domain import StatusReport
from gateway.inbound.group import GroupCommit, LoopGroupCommit
from gateway.ports import DocumentInvalid
from gateway.reconcile.apply import Applied
from gateway.reconcile.service import (
    SCHEMA,
    SIGNATURE,
    UNAUTHORISED,
    Refused,
    Report,
    apply_reports,
)
from gateway.registry import format_for_namespace
from gateway.store import transaction
from gateway.store.among import among, dialect_of, inline, unnested
from gateway.store.bulk import plain_rows
from gateway.store.inbound import (
    Arrival,
    Stored,
    mark_quarantined,
    quarantine,
    store_received,
    store_received_many,
)
from gateway.store.tables import Message, table_of
from gateway.store.vocab import Direction
from gateway.store.writes import Writes
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
        self._pushes: GroupCommit[Push, Received] = GroupCommit(self.receive_pushed_many)
        self._loop_pushes: LoopGroupCommit[Push, Received] = LoopGroupCommit(
            self.receive_pushed_many
        )

    def receive_pushed(
        self, body: bytes, *, pushed_by: str | None = None, now: dt.datetime | None = None
    ) -> Received:
        """Store ``body`` raw, then verify, check and apply it; ``pushed_by`` (the agency of
        the authenticated client that pushed it) must be the agency that signed it.

        Pushes that arrive while others are being stored are stored and applied together
        (group commit): a few statements for the batch instead of some twenty for each."""
        return self._pushes.submit(self._push(body, pushed_by, now))

    async def receive_pushed_async(
        self, body: bytes, *, pushed_by: str | None = None, now: dt.datetime | None = None
    ) -> Received:
        """:meth:`receive_pushed` for a caller on an event loop (the push receiver's route):
        batched by one thread, with no thread parked per push."""
        return await self._loop_pushes.submit(self._push(body, pushed_by, now))

    def _push(self, body: bytes, pushed_by: str | None, now: dt.datetime | None) -> Push:
        if len(body) > self.max_bytes:
            raise BodyTooLarge(f"{len(body)} bytes; at most {self.max_bytes} are accepted")
        return Push(body, pushed_by, now or dt.datetime.now(dt.UTC))

    def receive_pushed_many(self, pushes: Sequence[Push]) -> list[Received]:
        """:meth:`receive_pushed` for each of ``pushes``, in order: stored raw in one
        transaction, then verified, then checked and applied in another."""
        for push in pushes:
            if len(push.body) > self.max_bytes:
                raise BodyTooLarge(f"{len(push.body)} bytes; at most {self.max_bytes} are accepted")
        with transaction(self.sessions) as session:  # first, and committed on its own
            # the pushing client's agency until verified: a quarantined push still says who
            stored = store_received_many(
                session,
                [Arrival(p.body, p.now, p.pushed_by) for p in pushes],
                via="push",
                kind="received",
            )
        answers: list[Received | None] = [None] * len(pushes)
        checked: list[_Checked] = []
        later: list[int] = []  # the same bytes as an earlier push of the batch: answered after it
        seen: set[int] = set()
        for i, (push, row) in enumerate(zip(pushes, stored, strict=True)):
            if row.pk in seen:
                later.append(i)
                continue
            seen.add(row.pk)
            if row.verified:  # applied when it came the first time: nothing changes
                answers[i] = _repeat(row, push.pushed_by)
                continue
            try:
                verified, report = self._verify(push.body)
                if push.pushed_by is not None and verified.sender != push.pushed_by:
                    raise Refused(
                        UNAUTHORISED, f"signed by {verified.sender}, pushed by {push.pushed_by}"
                    )
            except Refused as exc:
                checked.append(_Checked(i, row, exc, None, None, "push", push.now, ""))
                continue
            kind = fmt_kind(verified)
            checked.append(_Checked(i, row, None, report, verified.sender, "push", push.now, kind))
        postponed: list[_Checked] = []  # a message id an earlier push of the batch took
        if checked:
            for item, answer in zip(checked, self._apply(checked), strict=True):
                if answer is None:
                    postponed.append(item)
                else:
                    answers[item.index] = answer
        for item in postponed:  # after the batch, as if they had come a moment later
            (answers[item.index],) = self._apply([item])
        for i in later:
            answers[i] = self.receive_pushed_many([pushes[i]])[0]
        assert all(answer is not None for answer in answers), "every push is answered"
        return cast(list[Received], answers)

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
        (answer,) = self._apply([_Checked(0, stored, None, report, agency, via, now, "status")])
        assert answer is not None, "one report alone takes no other's message id"
        return answer

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

    def _apply(self, items: Sequence[_Checked]) -> list[Received | None]:
        """One transaction: the stored rows locked, refusals quarantined, the rest checked and
        applied together. None for a report whose message id an earlier one of ``items``
        took: the caller tries it again on its own."""
        with transaction(self.sessions) as session:
            pks = {item.stored.pk for item in items}
            ids = {item.report.header.message_id for item in items if item.report is not None}
            # one statement: the stored rows, and any row already under one of the message ids
            # (plain rows, not ORM objects: a batch updates them together at its end)
            loaded = [
                _Locked(*row)
                for row in plain_rows(
                    session, _locked_rows(dialect_of(session)), {"pks": list(pks), "ids": list(ids)}
                )
            ]
            rows = {row.id: row for row in loaded if row.id in pks}
            taken = {
                row.message_id: _Taken(row.id, row.sha256)
                for row in loaded
                if row.direction == Direction.IN and row.message_id in ids
            }
            answers: list[Received | None] = [None] * len(items)
            applying: list[tuple[int, int]] = []  # (item, message row's key)
            for n, item in enumerate(items):
                row = rows[item.stored.pk]
                if item.refused is not None:
                    answers[n] = _quarantined(session, item, row.id, item.refused, None)
                    continue
                assert item.report is not None
                if row.verified:  # a concurrent receiver of the same bytes applied it
                    answers[n] = Received(row.id, row.case_ref, None, None, None, duplicate=True)
                    continue
                message_id = item.report.header.message_id
                other = taken.get(message_id)
                if other is not None and other.id in {pk for _, pk in applying}:
                    continue  # taken in this batch: None, tried again after it
                pk = row.id
                if other is not None and other.id != row.id:
                    if other.sha256 != row.sha256:
                        refused = Refused(UNAUTHORISED, "message id reused with other content")
                        answers[n] = _quarantined(session, item, row.id, refused, item.report)
                        continue
                    # the same bytes stored twice by a race: keep the first
                    session.execute(delete(Message).where(Message.id == row.id))
                    pk = other.id
                taken[message_id] = _Taken(pk, row.sha256)
                applying.append((n, pk))
            writes = Writes(session)  # the messages' UPDATE goes with the batch's writes
            outcomes = apply_reports(
                session,
                [
                    Report(item.report, item.agency, item.via, item.now, pk)
                    for item, pk in ((items[n], pk) for n, pk in applying)
                    if item.report is not None and item.agency is not None
                ],
                writes=writes,
            )
            verified: list[dict[str, object]] = []
            for (n, pk), outcome in zip(applying, outcomes, strict=True):
                item = items[n]
                assert item.report is not None
                case_ref = item.report.header.case_ref
                if isinstance(outcome, Refused):
                    answers[n] = _quarantined(session, item, pk, outcome, item.report)
                    continue
                verified.append(
                    {
                        "id": pk,
                        "verified": True,
                        "quarantine_reason": None,
                        "message_id": item.report.header.message_id,
                        "case_ref": case_ref,
                        "counterpart": item.agency,
                        "kind": item.kind,
                    }
                )
                log.info(
                    "%s %s for %s applied: %s",
                    item.via,
                    item.report.header.message_id,
                    case_ref,
                    outcome.stored,
                )
                answers[n] = Received(
                    pk, case_ref, None, None, outcome, duplicate=item.stored.duplicate
                )
            writes.update(table_of(Message), verified)
            writes.flush()
        return answers


@dataclass(frozen=True)
class Push:
    body: bytes
    pushed_by: str | None
    now: dt.datetime


@dataclass(frozen=True)
class _Checked:
    """A stored document after verification: refused, or a report to apply."""

    index: int
    stored: Stored
    refused: Refused | None
    report: StatusReport | None
    agency: str | None  # the signer
    via: str
    now: dt.datetime
    kind: str


class _Locked(NamedTuple):
    """What the batch reads of its message rows (the columns of these names)."""

    id: int
    direction: str
    message_id: str
    sha256: str
    verified: bool
    case_ref: str | None


@lru_cache(maxsize=4)
def _locked_rows(dialect: str) -> Any:
    """A batch's stored rows (``pks``) and any inbound row under its message ids (``ids``)."""
    inbound = select(Message.id).where(
        Message.direction == inline(Direction.IN), among(dialect, Message.message_id, "ids")
    )
    if dialect == "postgresql":
        # one semi-join on ids: PostgreSQL filters an OR of two subqueries row by row,
        # reading the whole table
        wanted: ColumnElement[bool] = Message.id.in_(union(unnested(Message.id, "pks"), inbound))
    else:
        wanted = or_(among(dialect, Message.id, "pks"), Message.id.in_(inbound))
    columns = (getattr(Message, name) for name in _Locked._fields)
    return select(*columns).where(wanted).order_by(Message.id).with_for_update()


@dataclass(frozen=True)
class _Taken:
    id: int
    sha256: str


def _repeat(stored: Stored, pushed_by: str | None) -> Received:
    """The answer to bytes that were verified and applied before."""
    if pushed_by is not None and stored.counterpart != pushed_by:
        # answered as a fresh push from this client would be: a repeat must not tell
        # another agency whether a document was received (nothing is stored again)
        reason = f"signed by {stored.counterpart}, pushed by {pushed_by}"
        return Received(stored.pk, None, reason, UNAUTHORISED, None, duplicate=True)
    return Received(stored.pk, stored.case_ref, None, None, None, duplicate=True)


def _quarantined(
    session: Session,
    item: _Checked,
    pk: int,
    exc: Refused,
    report: StatusReport | None,
) -> Received:
    """Keep message ``pk`` (locked) out of everything; a report that was verified names its
    case and signer."""
    reason = f"{exc.code}: {exc.reason}"
    case_ref = report.header.case_ref if report is not None else None
    agency = item.agency if report is not None else None
    row = session.get(Message, pk)
    assert row is not None, "the batch's rows are locked"
    mark_quarantined(session, row, reason, case_ref=case_ref, counterpart=agency)
    log.warning("message %d quarantined: %s", pk, reason)
    return Received(pk, case_ref, reason, exc.code, None, duplicate=item.stored.duplicate)


def fmt_kind(verified: Verified) -> str:
    """The document's kind: its root element's local name (StatusNotice, EstadoProcesso)."""
    return etree.QName(verified.element).localname
