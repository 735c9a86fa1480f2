"""Time limits (Art. 20): the committed due date, and when an agency is expected to answer.

* :func:`committed_due` — Guangdong's promise to the applicant: the item's ``committedDays``
  Guangdong working days after acceptance (the acceptance day not counted), never more than
  its ``statutoryDays``.
* :func:`agency_answer_due` — the gateway's planning date for the agency leg: the mapping's
  ``agencyDays`` working days after delivery, on the agency's own calendar (HK or MO). It is
  the gateway's figure for follow-up, not a statutory limit; without ``agencyDays`` there is
  none.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

from gateway.domain.workdays import calendar

if TYPE_CHECKING:
    from gateway.domain.items import ServiceItem
    from gateway.mappings.engine import Mapping

#: the calendar the committed limit is counted on: the Guangdong office that accepted the case
GUANGDONG = "CN-GD"


def committed_due(accepted_on: dt.date, item: ServiceItem) -> dt.date:
    """``item.committed_days`` Guangdong working days after ``accepted_on``."""
    if item.statutory_days is not None and item.committed_days > item.statutory_days:
        raise ValueError(
            f"{item.item_code}: committed {item.committed_days} working days exceed the "
            f"statutory {item.statutory_days}"
        )
    return calendar(GUANGDONG).add_working_days(accepted_on, item.committed_days)


def agency_answer_due(
    delivered_on: dt.date, mapping: Mapping, region: str | None = None
) -> dt.date | None:
    """``mapping.agency_days`` working days after ``delivered_on`` on the agency's calendar.

    ``region`` is the agency's calendar (``HK``, ``MO``); default: the mapping's region.
    None when the mapping sets no ``agencyDays``.
    """
    if mapping.agency_days is None:
        return None
    return calendar(region or mapping.region).add_working_days(delivered_on, mapping.agency_days)
