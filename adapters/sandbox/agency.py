"""The format-neutral sandbox agency: its decisions, faults, keys and records.

A format's sandbox (``adapters/hk/sandbox.py``, ``adapters/macau/sandbox.py``) parses and
verifies its documents, then asks a :class:`SandboxAgency` what to do and renders the answer.
Nothing here knows XML: receipts are rendered and signed by a callback the format passes in,
inside the agency's lock, so two concurrent copies of one message cannot both count as new.

How a case's status develops over time is :mod:`adapters.sandbox.timeline`'s job; the agency
only takes its lock, opens the transaction and hands both over.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from functools import cached_property

from adapters.sandbox.config import SandboxConfig
from adapters.sandbox.receipts import signed_now
from adapters.sandbox.store import (
    CaseRow,
    MessageRow,
    RequestedDocumentRow,
    SandboxStore,
    SupplementRow,
    open_database,
)
from adapters.sandbox.timeline import SandboxEvent, Timeline
from gateway.domain import MessageHeader, Receipt
from gateway.render.documents import UTC_PLUS_8
from signing import KeyDirectory, SigningKey, TrustStore
from signing.devca import create_ca, generate_key, issue_certificate
from signing.parties import GATEWAY_PARTY

ReceiptSigner = Callable[[Receipt], bytes]


class Decision(StrEnum):
    NEW = "new"
    DUPLICATE = "duplicate"  # same case, same message (or same content): the stored receipt
    CONFLICT = "conflict"  # same case, different message and different content


@dataclass(frozen=True)
class SubmitResult:
    decision: Decision
    #: the signed receipt bytes for NEW and DUPLICATE (byte-identical on every repeat while
    #: the agency's key is unchanged; re-signed with the current key after a key change)
    receipt: bytes | None = None
    agency_case_ref: str | None = None


class UnknownCase(LookupError):
    """The sandbox has no case with this gateway case ref (or agency case ref)."""


@dataclass(frozen=True)
class CaseInfo:
    case_ref: str
    agency_case_ref: str
    agency: str
    service_code: str
    scenario: str
    first_message_id: str
    fingerprint: str
    received_at: dt.datetime
    supplemented_at: dt.datetime | None


class SandboxAgency:
    """One sandbox: every agency of ``config.region`` it holds a key for, one database."""

    def __init__(self, config: SandboxConfig, *, clock: Callable[[], dt.datetime] | None = None):
        self.config = config
        self.keys = KeyDirectory(config.keys_dir)
        self._sessions = open_database(config.database)
        self.store = SandboxStore(self._sessions)
        self._clock = clock or (lambda: dt.datetime.now(dt.UTC))
        self._lock = threading.RLock()
        self._started = time.monotonic()
        self._requests = 0
        #: loaded once: loading a PEM RSA key costs ~100 ms (cryptography checks the key)
        self._keys: dict[str, SigningKey] = {}
        self._timeline = Timeline(config, self.now)

    # --- time and faults ------------------------------------------------------------------

    def now(self) -> dt.datetime:
        return self._clock()

    def start(self) -> None:
        """(Re)start the unavailability window; call when the server starts serving."""
        with self._lock:
            self._started = time.monotonic()
            self._requests = 0

    def admit(self) -> bool:
        """Count one request; False while the sandbox plays "unavailable" (503/soap:Server)."""
        faults = self.config.faults
        with self._lock:
            self._requests += 1
            if self._requests <= faults.unavailable_requests:
                return False
            return time.monotonic() - self._started >= faults.unavailable_seconds

    @property
    def delay_seconds(self) -> float:
        """How long to wait before answering (the slow-response fault)."""
        return self.config.faults.delay_seconds

    # --- keys -----------------------------------------------------------------------------

    @cached_property
    def trust(self) -> TrustStore:
        """Registered certificates (the gateway's included), loaded once."""
        return self.keys.trust_store()

    @cached_property
    def _agencies_with_keys(self) -> frozenset[str]:
        prefix = f"{self.config.region}-"
        return frozenset(
            e.party for e in self.keys.entries() if e.key and e.party.startswith(prefix)
        )

    def knows_agency(self, code: str) -> bool:
        """True for an agency of this region the key directory holds a private key for."""
        return code in self._agencies_with_keys

    def signing_key(self, agency: str) -> SigningKey:
        """The agency's registered key, or under ``wrong_key`` a fresh unregistered one.

        Keys and the trust store are read once per sandbox: restart it after a rotation.
        """
        with self._lock:
            if agency in self._keys:
                return self._keys[agency]
            if not self.config.faults.wrong_key:
                self._keys[agency] = self.keys.agency_key(agency)
            else:
                now = self.now()
                ca_key, ca_cert = create_ca(now - dt.timedelta(hours=1))
                key = generate_key()
                cert = issue_certificate(
                    ca_key,
                    ca_cert,
                    agency,
                    key.public_key(),
                    now - dt.timedelta(hours=1),
                    now + dt.timedelta(days=30),
                )
                self._keys[agency] = SigningKey(key, cert)
            return self._keys[agency]

    # --- recording ------------------------------------------------------------------------

    def record(
        self,
        kind: str,
        outcome: str,
        *,
        message_id: str | None = None,
        case_ref: str | None = None,
        agency: str | None = None,
        fingerprint: str | None = None,
    ) -> None:
        """Log one received message and what became of it (faults included)."""
        with self._sessions.begin() as session:
            session.add(
                MessageRow(
                    message_id=message_id,
                    case_ref=case_ref,
                    kind=kind,
                    agency=agency,
                    fingerprint=fingerprint,
                    outcome=outcome,
                    received_at=self.now(),
                )
            )

    # --- submissions ----------------------------------------------------------------------

    def submit(
        self,
        header: MessageHeader,
        fingerprint: str,
        service_code: str,
        sign_receipt: ReceiptSigner,
        *,
        kind: str = "CaseSubmission",
        documents: Sequence[str] = (),
    ) -> SubmitResult:
        """Decide NEW / DUPLICATE / CONFLICT for a verified submission and record it.

        Same case ref + same message id: DUPLICATE. Same case ref, other message id but the
        same content fingerprint: a retry of the same content (e.g. re-rendered with a new id
        after a lost answer), also DUPLICATE with the stored receipt. Other message id and
        other content: CONFLICT. ``sign_receipt`` is called only for NEW. ``documents``: the
        agency document types the submission carries; a 補正 asks for the first one again.
        """
        with self._lock:
            result = self._decide(header, fingerprint, service_code, sign_receipt, documents)
            self.record(
                kind,
                result.decision.value,
                message_id=header.message_id,
                case_ref=header.case_ref,
                agency=header.recipient,
                fingerprint=fingerprint,
            )
            return result

    def _decide(
        self,
        header: MessageHeader,
        fingerprint: str,
        service_code: str,
        sign_receipt: ReceiptSigner,
        documents: Sequence[str],
    ) -> SubmitResult:
        now = self.now()
        with self._sessions.begin() as session:
            case = session.get(CaseRow, header.case_ref)
            if case is not None and not self.config.faults.ignore_idempotency:
                same = case.first_message_id == header.message_id or case.fingerprint == fingerprint
                if same:
                    case.receipt = self._receipt_now(case.receipt, case.agency)
                    return SubmitResult(Decision.DUPLICATE, case.receipt, case.agency_case_ref)
                return SubmitResult(Decision.CONFLICT, None, case.agency_case_ref)
            agency_ref = _agency_case_ref(header.recipient, now)
            receipt = sign_receipt(self._receipt(header, agency_ref, now))
            if case is None:
                session.add(
                    CaseRow(
                        case_ref=header.case_ref,
                        agency_case_ref=agency_ref,
                        agency=header.recipient,
                        service_code=service_code,
                        scenario=self.config.scenario_for(header.case_ref, service_code),
                        first_message_id=header.message_id,
                        fingerprint=fingerprint,
                        receipt=receipt,
                        received_at=now,
                    )
                )
            else:  # ignore_idempotency: the broken agency files the repeat as a new case
                case.agency_case_ref = agency_ref
                case.first_message_id = header.message_id
                case.fingerprint = fingerprint
                case.receipt = receipt
            if documents:
                session.merge(
                    RequestedDocumentRow(case_ref=header.case_ref, document_type=documents[0])
                )
            return SubmitResult(Decision.NEW, receipt, agency_ref)

    def supplement(
        self,
        header: MessageHeader,
        sign_receipt: ReceiptSigner,
        *,
        agency_case_ref: str | None = None,
        kind: str = "Supplement",
    ) -> SubmitResult:
        """Accept documents for a case (補正 answer); a repeated message id gets its receipt.

        Raises :class:`UnknownCase` when the case ref (or a given agency case ref) is unknown.
        The first supplement releases the step waiting after INFO_REQUIRED; it is accepted at
        any point of the case (an agency files what it is sent).
        """
        with self._lock:
            now = self.now()
            with self._sessions.begin() as session:
                case = session.get(CaseRow, header.case_ref)
                if case is None or (
                    agency_case_ref is not None and agency_case_ref != case.agency_case_ref
                ):
                    result = None
                else:
                    stored = session.get(SupplementRow, header.message_id)
                    if stored is not None and stored.case_ref == case.case_ref:
                        stored.receipt = self._receipt_now(stored.receipt, case.agency)
                        result = SubmitResult(
                            Decision.DUPLICATE, stored.receipt, case.agency_case_ref
                        )
                    else:
                        receipt = sign_receipt(self._receipt(header, case.agency_case_ref, now))
                        session.add(
                            SupplementRow(
                                message_id=header.message_id,
                                case_ref=case.case_ref,
                                receipt=receipt,
                                received_at=now,
                            )
                        )
                        if case.supplemented_at is None:
                            case.supplemented_at = now
                        result = SubmitResult(Decision.NEW, receipt, case.agency_case_ref)
            self.record(
                kind,
                "unknown_case" if result is None else result.decision.value,
                message_id=header.message_id,
                case_ref=header.case_ref,
                agency=header.recipient,
            )
            if result is None:
                raise UnknownCase(header.case_ref)
            return result

    def _receipt_now(self, stored: bytes, agency: str) -> bytes:
        """The stored receipt, re-signed when the agency's key changed since (receipts.py)."""
        return signed_now(stored, self.signing_key(agency))

    @staticmethod
    def _receipt(header: MessageHeader, agency_ref: str, now: dt.datetime) -> Receipt:
        return Receipt(
            header=MessageHeader(
                message_id=str(uuid.uuid4()),
                case_ref=header.case_ref,
                sent_at=now.astimezone(UTC_PLUS_8),
                sender=header.recipient,
                recipient=GATEWAY_PARTY,
            ),
            agency_case_ref=agency_ref,
            received_at=now.astimezone(UTC_PLUS_8),
        )

    # --- cases and events -----------------------------------------------------------------

    def case(self, case_ref: str) -> CaseInfo | None:
        with self._sessions() as session:
            row = session.get(CaseRow, case_ref)
            return None if row is None else _case_info(row)

    def events(self, case_ref: str, since_seq: int | None = None) -> list[SandboxEvent]:
        """The case's due events with ``seq > since_seq``, by seq; raises UnknownCase."""
        with self._lock, self._sessions.begin() as session:
            case = session.get(CaseRow, case_ref)
            if case is None:
                raise UnknownCase(case_ref)
            return self._timeline.events(session, case, since_seq)

    def latest_event(self, case_ref: str) -> SandboxEvent | None:
        """The newest due event (None before any is due); raises UnknownCase."""
        events = self.events(case_ref)
        return events[-1] if events else None

    def due_pushes(self) -> list[SandboxEvent]:
        """Due events not yet pushed, all cases, in the order the faults say to send them.

        ``out_of_order_notices`` swaps adjacent pairs per case (holding the odd last event
        back while its successor is still to come by time alone); ``duplicate_notices``
        lists every event twice. Call :meth:`mark_pushed` once the gateway took one.
        """
        with self._lock, self._sessions.begin() as session:
            return self._timeline.due_pushes(session)

    def mark_pushed(self, event: SandboxEvent) -> None:
        with self._sessions.begin() as session:
            self._timeline.mark_pushed(session, event)


def _agency_case_ref(agency: str, now: dt.datetime) -> str:
    """``HK-TD-2025-3F9A1C07B2``: the agency's own file number, unique per filing."""
    return f"{agency}-{now.astimezone(UTC_PLUS_8):%Y}-{uuid.uuid4().hex[:10].upper()}"


def _case_info(row: CaseRow) -> CaseInfo:
    return CaseInfo(
        case_ref=row.case_ref,
        agency_case_ref=row.agency_case_ref,
        agency=row.agency,
        service_code=row.service_code,
        scenario=row.scenario,
        first_message_id=row.first_message_id,
        fingerprint=row.fingerprint,
        received_at=row.received_at,
        supplemented_at=row.supplemented_at,
    )
