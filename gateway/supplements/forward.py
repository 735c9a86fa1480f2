"""Forward the applicant's documents to the agency: a CBCE ``Supplement`` / SIP
``EntregaDocumentos``, through the outbox like a submission.

The documents answer what the agency asked for (an open 補正 request, Art. 19) or what is
owed from filing (a material accepted as missing, 容缺, Art. 12). Files stay in Guangdong's
store: like the submission, the supplement carries references (type, media type, size,
SHA-256, https URL), each typed in the agency's document codes through the case's mapping.

Exactly once, as for submissions: the document is rendered, validated, signed once and stored
with its outbox row in the caller's transaction; every retry resends those bytes.
**Repeats**: the case row is locked first, and a forward of the very same set of materials
(same codes and the same references: file name, media type, size, SHA-256, URL) as an earlier
supplement of the case returns that supplement's outbox row — nothing new is signed or queued.
Any difference (another file for a code, one material more or fewer) is a new supplement,
provided each of its materials is still requested or owed.

What is marked: each required document of an open request whose agency type was forwarded
gets the outbox id (``required[i]["outbox_id"]``); a request all of whose documents were
forwarded (or that named none) becomes ``answered`` with the outbox id of the last one. A
pending material forwarded becomes ``forwarded``.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import uuid
from collections.abc import Mapping as MappingABC
from dataclasses import dataclass, field
from typing import Any

from lxml import etree
from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from gateway.domain import DocumentRef, MessageHeader, Supplement
from gateway.domain.applications import Attachment
from gateway.intake.wire import AttachmentIn
from gateway.ports import AgencyFormat
from gateway.registry import installed_formats
from gateway.render.documents import UTC_PLUS_8
from gateway.store.events import append_event
from gateway.store.outbound import add_outbound
from gateway.store.tables import Case, CaseEvent, PendingMaterial, SupplementRequest
from gateway.store.vocab import EventSource, OutboxKind
from gateway.supplements.mapping import case_mapping
from gateway.supplements.overdue import CLOSED, PENDING
from gateway.supplements.requests import ANSWERED, OPEN
from signing import SigningKey, sign
from signing.parties import GATEWAY_PARTY

FORWARDED_EVENT = "supplement-forwarded"


class SupplementRefused(ValueError):
    """The supplement cannot be forwarded; the message says what is wrong (one line)."""


@dataclass(frozen=True)
class Forwarded:
    outbox_id: str
    message_id: str
    #: False: the same materials were forwarded before; this is that supplement's outbox row
    created: bool
    #: ``[{"materialCode", "agencyType", "docId"}]`` in the order given
    documents: list[dict[str, str]] = field(default_factory=list)
    answered_requests: list[int] = field(default_factory=list)
    forwarded_pending: list[str] = field(default_factory=list)


def parse_material(raw: Any, where: str = "material") -> Attachment:
    """A material reference in Guangdong's shape ``{code, fileName, mediaType, size, sha256,
    url}``, checked as intake checks it (lower-case hex SHA-256, https URL, size ≥ 0)."""
    if not isinstance(raw, dict):
        raise SupplementRefused(f"{where}: must be a JSON object")
    try:
        return AttachmentIn.model_validate(raw)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or '(object)'}: {e['msg']}" for e in exc.errors()
        )
        raise SupplementRefused(f"{where}: {problems}") from None


def fingerprint(materials: list[Attachment]) -> str:
    """SHA-256 of the set of material references (order does not matter)."""
    refs = sorted([m.code, m.file_name, m.media_type, m.size, m.sha256, m.url] for m in materials)
    return hashlib.sha256(json.dumps(refs, ensure_ascii=False).encode()).hexdigest()


def forward(
    session: Session,
    case_ref: str,
    materials: list[dict[str, Any]],
    key: SigningKey,
    *,
    now: dt.datetime,
) -> str:
    """Forward ``materials`` as the case's supplement; return its outbox id (see the module
    for repeats). Raises :class:`SupplementRefused` naming what is wrong."""
    return forward_detailed(session, case_ref, materials, key, now=now).outbox_id


def forward_detailed(
    session: Session,
    case_ref: str,
    materials: list[dict[str, Any]],
    key: SigningKey,
    *,
    now: dt.datetime,
    formats: MappingABC[str, AgencyFormat] | None = None,
) -> Forwarded:
    """:func:`forward`, saying what was forwarded and what it answered."""
    if not materials:
        raise SupplementRefused("no materials to forward")
    parsed = [parse_material(raw, f"materials[{i}]") for i, raw in enumerate(materials)]
    codes = [m.code for m in parsed]
    twice = sorted({c for c in codes if codes.count(c) > 1})
    if twice:
        raise SupplementRefused(f"material {', '.join(twice)} given more than once")

    case = session.execute(
        select(Case).where(Case.case_ref == case_ref).with_for_update()
    ).scalar_one_or_none()
    if case is None:
        raise SupplementRefused(f"no case {case_ref}")

    fp = fingerprint(parsed)
    earlier = _earlier(session, case_ref, fp)
    if earlier is not None:  # a repeat gets its first answer, even once the case has closed
        message_id, outbox_id = earlier
        return Forwarded(outbox_id, message_id, created=False)
    if case.state in CLOSED:
        raise SupplementRefused(f"case {case_ref} is closed ({case.state})")

    if case.agency_case_ref is None:
        raise SupplementRefused(
            f"case {case_ref} has not been delivered to {case.agency} yet (no agency case number)"
        )
    mapping = case_mapping(case.item_code, case.item_version, case.region, case.mapping_id)
    if mapping is None:
        raise SupplementRefused(f"case {case_ref}: its mapping {case.mapping_id} is not installed")
    for m in parsed:
        if m.code not in mapping.documents:
            raise SupplementRefused(f"{m.code} is not a material of item {case.item_code}")

    requests = session.scalars(
        select(SupplementRequest)
        .where(SupplementRequest.case_ref == case_ref, SupplementRequest.state == OPEN)
        .order_by(SupplementRequest.agency_seq)
    ).all()
    pending = {
        p.material_code: p
        for p in session.scalars(
            select(PendingMaterial).where(
                PendingMaterial.case_ref == case_ref, PendingMaterial.state == PENDING
            )
        )
    }
    asked = {d["type"] for r in requests for d in r.required}
    open_ended = any(not r.required for r in requests)  # asked in words, no document named
    for m in parsed:
        agency_type = mapping.documents[m.code]
        if m.code not in pending and agency_type not in asked and not open_ended:
            raise SupplementRefused(
                f"{m.code} ({agency_type}) was not requested by {case.agency} "
                f"and is not owed for case {case_ref}"
            )

    documents = [
        DocumentRef(
            doc_id=m.doc_id,
            type=mapping.documents[m.code],
            media_type=m.media_type,
            size=m.size,
            sha256=m.sha256,
            uri=m.url,
        )
        for m in parsed
    ]
    message_id = str(uuid.uuid4())
    supplement = Supplement(
        header=MessageHeader(
            message_id=message_id,
            case_ref=case_ref,
            sent_at=now.astimezone(UTC_PLUS_8),
            sender=GATEWAY_PARTY,
            recipient=case.agency,
        ),
        agency_case_ref=case.agency_case_ref,
        documents=documents,
    )
    fmt = (formats or installed_formats()).get(case.region)
    if fmt is None:
        raise SupplementRefused(f"no agency format installed for region {case.region}")
    root = fmt.render_supplement(supplement)
    fmt.validate(root)  # before signing: never sign what the agency would reject
    signed = sign(root, key)
    kind = etree.QName(signed).localname
    outbox_id = add_outbound(
        session,
        kind=OutboxKind.SUPPLEMENT,
        destination=case.agency,
        document=etree.tostring(signed, xml_declaration=True, encoding="UTF-8"),
        message_id=message_id,
        message_kind=kind,
        case_ref=case_ref,
        now=now,
        counterpart=case.agency,
    )
    session.flush()

    sent_types = {d.type for d in documents}
    answered: list[int] = []
    for request in requests:
        required = [dict(d) for d in request.required]
        for d in required:
            if d["type"] in sent_types:
                d["outbox_id"] = outbox_id
        request.required = required  # a new list: the JSON column sees the change
        if all(d.get("outbox_id") for d in required):
            request.state = ANSWERED
            request.answered_at = now
            request.outbox_id = outbox_id
            answered.append(request.id)
    forwarded_pending = []
    for m in parsed:
        owed = pending.get(m.code)
        if owed is not None:
            owed.state = "forwarded"
            owed.forwarded_at = now
            owed.outbox_id = outbox_id
            forwarded_pending.append(m.code)
    append_event(
        session,
        case_ref,
        event=FORWARDED_EVENT,
        source=EventSource.GUANGDONG,
        now=now,
        detail=f"{kind} {message_id} outbox {outbox_id} materials {fp}",
    )
    return Forwarded(
        outbox_id,
        message_id,
        created=True,
        documents=[
            {"materialCode": m.code, "agencyType": d.type, "docId": d.doc_id}
            for m, d in zip(parsed, documents, strict=True)
        ],
        answered_requests=answered,
        forwarded_pending=forwarded_pending,
    )


def _earlier(session: Session, case_ref: str, fp: str) -> tuple[str, str] | None:
    """(message id, outbox id) of an earlier supplement of the case with these materials."""
    detail = session.scalars(
        select(CaseEvent.detail)
        .where(
            CaseEvent.case_ref == case_ref,
            CaseEvent.event == FORWARDED_EVENT,
            CaseEvent.detail.like(f"% materials {fp}"),
        )
        .order_by(CaseEvent.seq)
        .limit(1)
    ).first()
    if detail is None:
        return None
    words = detail.split()
    return words[1], words[3]
