"""The platform's view of one case: state, timeline, due dates, what is asked and owed, result.

Built from the store alone (plus the catalogue for the statutory limit), so a case filed
through any channel reads the same. Texts the agency wrote are given in Simplified Chinese
beside the original, as the notifications give them (docs/events.md). The view carries no
personal data: the platform holds the application already, and operators read it too.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import Row, select
from sqlalchemy.orm import Session

from gateway.api.schemas import (
    CaseResult,
    CaseView,
    DueDates,
    OwedMaterial,
    RequiredDocument,
    ResultDocument,
    SupplementRequestView,
    TimelineEntry,
)
from gateway.catalogue.loader import Catalogue
from gateway.domain.workdays import calendar
from gateway.render.documents import UTC_PLUS_8
from gateway.render.translate import FILING_CALENDAR
from gateway.store.tables import AgencyEvent, Case, CaseEvent, PendingMaterial, SupplementRequest
from gateway.supplements.mapping import case_mapping, material_code_for
from gateway.supplements.overdue import PENDING
from gateway.supplements.requests import OPEN
from gateway.text.convert import to_simplified

RESULTS = frozenset({"APPROVED", "REJECTED", "COMPLETED", "WITHDRAWN"})


def case_view(session: Session, case_ref: str, catalogue: Catalogue) -> CaseView | None:
    """The case as the platform follows it; None when there is no such case.

    Columns, not entities: the answer to every filing is this view, and loading whole rows
    (the texts, the ORM's identity map) cost a fifth of ``POST /v1/applications``.
    """
    case = session.execute(
        select(
            Case.case_ref,
            Case.application_no,
            Case.application,
            Case.item_code,
            Case.item_version,
            Case.mapping_id,
            Case.region,
            Case.agency,
            Case.agency_case_ref,
            Case.state,
            Case.created_at,
            Case.updated_at,
            Case.committed_due,
            Case.agency_due,
        ).where(Case.case_ref == case_ref)
    ).one_or_none()
    if case is None:
        return None
    application: dict[str, Any] = case.application or {}  # emptied by retention, in time
    delivery = application.get("delivery")
    return CaseView(
        case_ref=case.case_ref,
        application_no=case.application_no,
        item_code=case.item_code,
        item_version=case.item_version,
        channel=application.get("channel"),
        region=case.region,
        agency=case.agency,
        agency_case_ref=case.agency_case_ref,
        state=case.state,
        filed_at=case.created_at,
        updated_at=case.updated_at,
        due_dates=DueDates(
            statutory=_statutory_due(case, application, catalogue),
            committed=case.committed_due,
            agency=case.agency_due,
        ),
        delivery_channel=delivery.get("channel") if isinstance(delivery, dict) else None,
        timeline=[
            TimelineEntry(
                seq=e.seq,
                event=e.event,
                state=e.state,
                source=e.source,
                agency_status=e.agency_status,
                at=e.at,
            )
            for e in session.execute(
                select(
                    CaseEvent.seq,
                    CaseEvent.event,
                    CaseEvent.state,
                    CaseEvent.source,
                    CaseEvent.agency_status,
                    CaseEvent.at,
                )
                .where(CaseEvent.case_ref == case_ref)
                .order_by(CaseEvent.seq)
            )
        ],
        pending_supplements=_open_requests(session, case),
        owed_materials=[
            OwedMaterial(
                material_code=m.material_code, agency_type=m.agency_type, due_date=m.due_date
            )
            for m in session.execute(
                select(
                    PendingMaterial.material_code,
                    PendingMaterial.agency_type,
                    PendingMaterial.due_date,
                )
                .where(PendingMaterial.case_ref == case_ref, PendingMaterial.state == PENDING)
                .order_by(PendingMaterial.due_date, PendingMaterial.material_code)
            )
        ],
        result=_result(session, case),
    )


def _statutory_due(
    case: Row[Any], application: dict[str, Any], catalogue: Catalogue
) -> dt.date | None:
    """The item's statutory days counted as the committed ones are (GD calendar, from filing)."""
    item = catalogue.get(case.item_code, case.item_version)
    filed = _filed_on(application.get("submittedAt"))
    if item is None or item.statutory_days is None or filed is None:
        return None
    return calendar(FILING_CALENDAR).add_working_days(filed, item.statutory_days)


def _filed_on(submitted_at: Any) -> dt.date | None:
    """The filing day in Guangdong, as ``translate.filing_date`` counts it."""
    try:
        return dt.datetime.fromisoformat(submitted_at).astimezone(UTC_PLUS_8).date()
    except (TypeError, ValueError):
        return None


def _open_requests(session: Session, case: Row[Any]) -> list[SupplementRequestView]:
    requests = session.execute(
        select(
            SupplementRequest.id,
            SupplementRequest.agency_seq,
            SupplementRequest.opened_at,
            SupplementRequest.required,
            SupplementRequest.remarks,
            SupplementRequest.remarks_simplified,
        )
        .where(SupplementRequest.case_ref == case.case_ref, SupplementRequest.state == OPEN)
        .order_by(SupplementRequest.agency_seq)
    ).all()
    if not requests:
        return []
    mapping = case_mapping(case.item_code, case.item_version, case.region, case.mapping_id)
    return [
        SupplementRequestView(
            request_id=r.id,
            agency_seq=r.agency_seq,
            opened_at=r.opened_at,
            required=[
                RequiredDocument(
                    material_code=material_code_for(mapping, d["type"]),
                    agency_type=d["type"],
                    due_date=d.get("due_date"),
                )
                for d in r.required
                if not d.get("outbox_id")  # already forwarded
            ],
            remarks=r.remarks_simplified,
            remarks_original=r.remarks,
        )
        for r in requests
    ]


def _result(session: Session, case: Row[Any]) -> CaseResult | None:
    """The agency event that decided the case (the latest one with the case's final state)."""
    if case.state not in RESULTS:
        return None
    event = session.execute(
        select(
            AgencyEvent.agency_status,
            AgencyEvent.changed_at,
            AgencyEvent.remarks,
            AgencyEvent.details,
        )
        .where(AgencyEvent.case_ref == case.case_ref, AgencyEvent.status == case.state)
        .order_by(AgencyEvent.seq.desc())
        .limit(1)
    ).first()
    if event is None:
        return None
    document = (event.details or {}).get("result")
    return CaseResult(
        status=case.state,
        agency_status=event.agency_status,
        decided_at=event.changed_at,
        reason=to_simplified(event.remarks) if event.remarks else event.remarks,
        reason_original=event.remarks,
        result_document=(
            ResultDocument(
                doc_id=document.get("doc_id"),
                uri=document.get("uri"),
                sha256=document.get("sha256"),
            )
            if isinstance(document, dict)
            else None
        ),
    )
