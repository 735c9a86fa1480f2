"""The offline pipeline: intake → canonical case → mapping → conversion → document → XSD → sign.

:class:`Pipeline` holds what is expensive to build (catalogue, mappings, schemas, the signing
key) and is built once per process; each application then costs one pass.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Mapping as MappingABC
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lxml import etree

from gateway.catalogue.loader import Catalogue
from gateway.clock import Clock, SystemClock
from gateway.domain import Application, Case, MessageRecord
from gateway.domain.base import validator_of
from gateway.intake.validator import ApplicationRejected, Intake, Problem
from gateway.mappings.engine import MappingSet
from gateway.ports import AgencyFormat
from gateway.privacy.masking import remember_names
from gateway.privacy.personal import names_of
from gateway.registry import installed_formats
from gateway.render.translate import Translation, translate
from signing import SigningKey, sign

# validated as Case(**fields) is, without the Python wrapper (domain.base.validator_of)
_case = validator_of(Case)
_message = validator_of(MessageRecord)


@dataclass
class Rendered:
    case: Case
    translation: Translation
    document: etree._Element  # signed when a key was given

    def to_bytes(self) -> bytes:
        return etree.tostring(self.document, xml_declaration=True, encoding="UTF-8")


class Pipeline:
    def __init__(
        self,
        catalogue: Catalogue | None = None,
        mappings: MappingSet | None = None,
        formats: MappingABC[str, AgencyFormat] | None = None,
        *,
        catalogue_dir: Path | None = None,
        mappings_dir: Path | None = None,
        clock: Clock | None = None,
    ):
        self.clock = clock or SystemClock()
        self.catalogue = catalogue or Catalogue.load(catalogue_dir)
        self.formats = dict(formats or installed_formats())
        self.mappings = mappings or MappingSet.load(self.catalogue, self.formats, mappings_dir)
        self.intake = Intake(self.catalogue, clock=self.clock)

    def accept(self, data: bytes | str | dict[str, Any]) -> Application:
        """Validate an application; an item/region with no mapping is also a rejection."""
        app = self.intake.parse(data)
        remember_names(names_of(app))  # masked in logs
        if self.mappings.find(app.item_code, app.item_version, app.target_region) is None:
            raise ApplicationRejected(
                [
                    Problem(
                        "targetRegion",
                        f"no agency mapping for this item version in {app.target_region}",
                    )
                ]
            )
        return app

    def render(
        self,
        app: Application,
        key: SigningKey | None,
        *,
        message_id: str | None = None,
        sent_at: dt.datetime | None = None,
    ) -> Rendered:
        item = self.catalogue.get(app.item_code, app.item_version)
        mapping = self.mappings.find(app.item_code, app.item_version, app.target_region)
        assert item is not None and mapping is not None, "accept() checks both"
        fmt = self.formats[app.target_region]
        message_id = message_id or str(uuid.uuid4())
        sent_at = sent_at or self.clock.now()
        translation = translate(app, item, mapping, message_id=message_id, sent_at=sent_at)
        root = fmt.render_submission(translation.submission)
        fmt.validate(root)  # before signing: never sign what the agency would reject
        if key is not None:
            root = sign(root, key)
        header = translation.submission.header
        case = _case(
            {
                "case_ref": header.case_ref,
                "application": app,
                "item_code": item.item_code,
                "item_version": item.version,
                "mapping_id": mapping.mapping,
                "mapping_version": mapping.version,
                "region": app.target_region,
                "agency": mapping.agency,
                "texts": translation.texts,
                "messages": [
                    _message(
                        {
                            "message_id": message_id,
                            "kind": etree.QName(root).localname,
                            "direction": "out",
                            "at": header.sent_at,
                        }
                    )
                ],
            }
        )
        return Rendered(case=case, translation=translation, document=root)
