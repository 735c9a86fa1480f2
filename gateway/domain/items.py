"""Service items (政務服務事項): the catalogue's versioned descriptions."""

from __future__ import annotations

from functools import cached_property
from typing import Literal

from pydantic import Field

from gateway.domain.base import Channel, FieldType, Region, Wire


class ItemType(Wire):
    code: str
    name: str


class LegalBasis(Wire):
    law: str
    article: str


class Department(Wire):
    name: str
    credit_code: str


class MaterialSpec(Wire):
    code: str
    name: str
    required: bool
    deficiency_allowed: bool
    deficiency_days: int = Field(ge=0)


class FormFieldSpec(Wire):
    key: str
    label: str
    type: FieldType
    required: bool
    enum: list[str] | None = None


class ServiceItem(Wire):
    """One version of a Guangdong service item (政務服務事項)."""

    item_code: str
    base_code: str
    version: int = Field(gt=0)
    name: str
    type: ItemType
    basis: list[LegalBasis]
    department: Department
    statutory_days: int | None = Field(default=None, gt=0)
    committed_days: int = Field(gt=0)
    commitment_allowed: bool
    materials: list[MaterialSpec]
    form: list[FormFieldSpec]
    channels: list[Channel]
    cross_region: list[Region]
    biometric_required: bool
    status: Literal["ACTIVE", "WITHDRAWN"]

    @cached_property
    def materials_by_code(self) -> dict[str, MaterialSpec]:
        return {m.code: m for m in self.materials}

    @cached_property
    def fields_by_key(self) -> dict[str, FormFieldSpec]:
        return {f.key: f for f in self.form}

    @cached_property
    def form_rows(self) -> tuple[tuple[str, FieldType, list[str] | None, bool, str], ...]:
        """The form spec as ``(key, type, enum, required, label)``, in order: intake reads
        every field of it for every application, and an attribute of a pydantic model costs
        several times a tuple item to read."""
        return tuple((f.key, f.type, f.enum, f.required, f.label) for f in self.form)

    def material(self, code: str) -> MaterialSpec | None:
        return self.materials_by_code.get(code)

    def field(self, key: str) -> FormFieldSpec | None:
        return self.fields_by_key.get(key)
