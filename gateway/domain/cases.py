"""The case the gateway keeps: the application, where it went, every text sent and message."""

from __future__ import annotations

import datetime as dt
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict

from gateway.domain.applications import Application
from gateway.domain.base import Region


class CaseStatus(StrEnum):
    """Canonical case status; each mapping translates its agency's codes into these."""

    RECEIVED = "RECEIVED"
    ACCEPTED = "ACCEPTED"
    INFO_REQUIRED = "INFO_REQUIRED"
    IN_PROGRESS = "IN_PROGRESS"
    APPROVED = "APPROVED"
    REJECTED = "REJECTED"
    WITHDRAWN = "WITHDRAWN"
    COMPLETED = "COMPLETED"


class TextPair(BaseModel):
    """A text as Guangdong filed it beside what was sent; never regenerate one from the other."""

    model_config = ConfigDict(frozen=True)

    path: str  # where it came from: ``form.businessScope``, ``applicant.address.lines[0]``
    original: str
    converted: str | None  # None: left out on purpose (e.g. an ambiguous personal name)
    #: what decided the converted text: ``engines`` (both agreed), ``zhconv-rs`` (the primary
    #: engine, an open disagreement), a rule (``glossary``, ``gazetteer``, ``keep``, ``glyph``,
    #: ``accepted``, ``form-only``), for names ``name-rules``, ``nameTraditional``,
    #: ``ambiguous``, ``as-filed``; joined by ``+``. None: not recorded (older cases).
    decided_by: str | None = None


class MessageRecord(BaseModel):
    model_config = ConfigDict(frozen=True)

    message_id: str
    kind: str  # CaseSubmission, PedidoProcesso, Receipt, StatusNotice, ...
    direction: Literal["out", "in"]
    at: dt.datetime


class Case(BaseModel):
    """Everything the gateway must remember about one cross-region case."""

    case_ref: str  # GBA- + 20 upper-case alphanumerics
    application: Application
    item_code: str
    item_version: int
    mapping_id: str
    mapping_version: int
    region: Region
    agency: str
    status: CaseStatus | None = None
    texts: list[TextPair] = []
    messages: list[MessageRecord] = []
