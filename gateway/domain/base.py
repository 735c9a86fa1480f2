"""The vocabularies every model shares, and the base of the models read from Guangdong JSON.

Field names are snake_case in Python and camelCase on the Guangdong wire (``alias``), so the
same models read the platform's files.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Literal

from pydantic import BaseModel, ConfigDict
from pydantic.alias_generators import to_camel

Region = Literal["HK", "MO"]
AddressRegion = Literal["HK", "MO", "CN-GD", "OTHER"]
Channel = Literal["ONLINE", "MOBILE", "KIOSK", "COUNTER"]
IdType = Literal["PRC_ID", "HK_ID", "MO_ID", "HKMO_PERMIT", "PASSPORT"]
FieldType = Literal["string", "date", "int", "decimal", "bool", "enum"]
DeliveryChannel = Literal["ELECTRONIC", "COUNTER", "POST"]
ConsentPurpose = Literal["CROSS_BORDER_TRANSFER", "CASE_PROCESSING", "BIOMETRIC_VERIFICATION"]
FormValue = str | int | bool | Decimal | dt.date


class Wire(BaseModel):
    """Base for models that read Guangdong's camelCase JSON and reject unknown fields."""

    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, extra="forbid", frozen=True
    )
