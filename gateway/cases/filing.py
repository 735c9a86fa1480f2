"""Filing an application: validate, route, render, sign once, and store it for delivery.

The signed document, the case (with its committed due date and the materials accepted as
missing, as the document states them) and its outbox row are written in one transaction
(``gateway.store.file_case``): from the moment :meth:`Filing.file` returns, the case exists
and its delivery is owed, whatever crashes next. Every later retry sends the bytes signed
here. A repeat of an already filed application costs one look-up and no signature.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from gateway.catalogue.published import adopt_published
from gateway.domain import Application
from gateway.intake.problems import ApplicationRejected
from gateway.render.pipeline import Pipeline
from gateway.store import ApplicationConflict, file_case, transaction
from gateway.store.digest import json_sha256
from gateway.store.tables import Case
from gateway.store.text_review import record_disagreements
from gateway.text.review import open_disagreements
from signing import SigningKey


@dataclass(frozen=True)
class Filed:
    case_ref: str
    application_no: str
    agency: str
    created: bool  # False: the same application was filed before; nothing was written


class Filing:
    """Files applications into the store; built once per process (pipeline, key)."""

    def __init__(self, pipeline: Pipeline, key: SigningKey, sessions: sessionmaker[Session]):
        self.pipeline = pipeline
        self.key = key
        self.sessions = sessions

    def file(self, data: bytes | str | dict[str, Any]) -> Filed:
        """File one application.

        Raises ``ApplicationRejected`` (every problem, with its path) for an invalid one and
        :class:`~gateway.store.ApplicationConflict` when its number is already filed with other
        content.
        """
        application = self._accept(data)
        content = application.model_dump(mode="json", by_alias=True)
        with transaction(self.sessions, read_only=True) as session:
            known = session.execute(
                select(Case.case_ref, Case.agency, Case.application_sha256).where(
                    Case.application_no == application.application_no
                )
            ).one_or_none()
        if known is not None:  # a repeat costs one look-up, no signature
            if known.application_sha256 != json_sha256(content):
                raise ApplicationConflict(application.application_no, known.case_ref)
            return Filed(known.case_ref, application.application_no, known.agency, created=False)

        rendered = self.pipeline.render(application, self.key)
        case = rendered.case
        submission = rendered.translation.submission
        # Art. 12 / Art. 20: the dates the signed document states, kept on the case as sent
        pending = [
            {"material_code": code, "agency_type": owed.type, "due_date": owed.due_date}
            for code, owed in zip(application.deficient, submission.deficiencies, strict=True)
        ]
        disagreements = open_disagreements(case.texts, case.region)  # for gbagw text review
        with transaction(self.sessions) as session:
            case_ref, created = file_case(
                session,
                case_ref=case.case_ref,
                application_no=application.application_no,
                application=content,
                item_code=case.item_code,
                item_version=case.item_version,
                mapping_id=case.mapping_id,
                mapping_version=case.mapping_version,
                region=case.region,
                agency=case.agency,
                texts=[t.model_dump(mode="json") for t in case.texts],
                document=rendered.to_bytes(),
                message_id=case.messages[0].message_id,
                kind=case.messages[0].kind,
                committed_due=submission.time_limit.due_date,
                pending_materials=pending,
            )
            if created:
                record_disagreements(session, case_ref, case.region, disagreements)
        return Filed(case_ref, application.application_no, case.agency, created)

    def _accept(self, data: bytes | str | dict[str, Any]) -> Application:
        """The pipeline's verdict; an item version it does not know may have been published
        since the process started (``PUT /v1/items``): adopted from the store, then retried."""
        try:
            return self.pipeline.accept(data)
        except ApplicationRejected as exc:
            if not any(p.path in ("itemCode", "itemVersion") for p in exc.problems):
                raise
            with transaction(self.sessions, read_only=True) as session:
                if not adopt_published(self.pipeline.catalogue, session):
                    raise
        return self.pipeline.accept(data)
