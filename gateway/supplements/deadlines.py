"""Time limits kept on the case (Art. 20).

* ``committed_due`` — written at filing (:mod:`gateway.cases.filing`), the very date the
  submission carries in its TimeLimit/DueDate.
* ``agency_due`` — written when the agency's receipt is recorded (:func:`after_delivery`):
  the mapping's ``agencyDays`` working days after the delivery day, counted on the agency's
  own calendar and in its own time zone.
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from gateway.domain.timelimits import agency_answer_due
from gateway.store.tables import Case
from gateway.supplements.mapping import case_mapping

#: the agency's time zone, by region (the delivery day is a calendar day there)
AGENCY_ZONES = {"HK": ZoneInfo("Asia/Hong_Kong"), "MO": ZoneInfo("Asia/Macau")}
#: Guangdong's (the committed due date is a calendar day there)
GUANGDONG_ZONE = ZoneInfo("Asia/Shanghai")


def after_delivery(session: Session, case_ref: str, *, now: dt.datetime) -> None:
    """Set the case's ``agency_due`` (mapping ``agencyDays`` on the agency's calendar)."""
    case = session.get(Case, case_ref)
    if case is None:
        return
    mapping = case_mapping(case.item_code, case.item_version, case.region, case.mapping_id)
    if mapping is None:
        return
    delivered_on = now.astimezone(AGENCY_ZONES.get(case.region, GUANGDONG_ZONE)).date()
    case.agency_due = agency_answer_due(delivered_on, mapping, case.region)
