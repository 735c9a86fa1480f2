"""From a validated application to a :class:`Submission`: mapping applied, texts converted.

Only what the mapping names leaves the gateway (data minimisation): form fields are read
through the mapping's field list and never copied wholesale. All Chinese texts of one case go
through OpenCC in one batch; each original is kept beside its conversion in the case.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass
from decimal import Decimal

from gateway.domain.model import (
    Address,
    AddressOut,
    AgentOut,
    ApplicantOut,
    Application,
    CommitmentOut,
    ConsentOut,
    DeliveryOut,
    DocumentRef,
    FormValue,
    Particular,
    PendingDocument,
    ServiceItem,
    Submission,
    SubmissionHeader,
    SubmissionService,
    TextPair,
    TimeLimit,
)
from gateway.domain.workdays import calendar
from gateway.mappings.engine import FieldMap, Mapping
from gateway.render.documents import UTC_PLUS_8, xs_boolean
from gateway.text import convert as text


def case_ref_for(application_no: str, region: str) -> str:
    """``GBA-`` + 20 upper-case hex digits (80 bits) of SHA-256 over the application number.

    Derived, not random, so that a resubmitted application lands on the same case.
    """
    digest = hashlib.sha256(f"{application_no}\x1f{region}".encode()).hexdigest()
    return "GBA-" + digest[:20].upper()


class _Texts:
    """Collects texts to convert, converts them in one call, and remembers each original."""

    def __init__(self) -> None:
        self._paths: list[str] = []
        self._originals: list[str] = []

    def add(self, path: str, original: str) -> int:
        self._paths.append(path)
        self._originals.append(original)
        return len(self._originals) - 1

    def convert(self, region: str) -> list[str]:
        self.converted = text.to_traditional_many(self._originals, region)  # type: ignore[arg-type]
        return self.converted

    def pairs(self) -> list[TextPair]:
        return [
            TextPair(path=p, original=o, converted=c)
            for p, o, c in zip(self._paths, self._originals, self.converted, strict=True)
        ]


@dataclass
class Translation:
    submission: Submission
    texts: list[TextPair]


def _lexical(value: FormValue) -> str:
    if isinstance(value, bool):
        return xs_boolean(value)
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return format(value, "f")
    return str(value)


def translate(
    app: Application,
    item: ServiceItem,
    mapping: Mapping,
    *,
    message_id: str,
    sent_at: dt.datetime,
) -> Translation:
    texts = _Texts()
    region = mapping.region
    service_name = mapping.service.name_zh
    if service_name is None:
        service_name = text.to_traditional_catalogue(item.name, region)
        catalogue_pairs = [TextPair(path="item.name", original=item.name, converted=service_name)]
    else:
        catalogue_pairs = []

    def address(base: str, a: Address | None) -> list[int] | None:
        return (
            None
            if a is None
            else [texts.add(f"{base}.lines[{i}]", ln) for i, ln in enumerate(a.lines)]
        )

    applicant_addr = address("applicant.address", app.applicant.address)
    delivery_addr = address("delivery.address", app.delivery.address)
    commitment_idx = texts.add("commitment.text", app.commitment.text) if app.commitment else None
    field_idx: dict[int, int] = {}
    for i, f in enumerate(mapping.fields):
        if f.type == "text" and f.source in app.form:
            field_idx[i] = texts.add(f"form.{f.source}", str(app.form[f.source]))
    converted = texts.convert(region)
    form_names: dict[str, str] = {}
    name_pairs = []
    for f in mapping.fields:
        if f.type == "name" and f.source in app.form and f.source not in form_names:
            filed = str(app.form[f.source])
            safe = text.convert_name(filed, None, region)
            # An ambiguous name goes as filed: the registered name beats a guessed character.
            form_names[f.source] = safe or filed
            name_pairs.append(
                TextPair(path=f"form.{f.source}", original=filed, converted=safe or filed)
            )

    def address_out(a: Address | None, idx: list[int] | None) -> AddressOut | None:
        if a is None or idx is None:
            return None
        return AddressOut(lines=[converted[i] for i in idx], region=a.region)

    applicant_zh = text.convert_name(app.applicant.name, app.applicant.name_traditional, region)
    name_pairs.append(
        TextPair(path="applicant.name", original=app.applicant.name, converted=applicant_zh)
    )
    agent_out = None
    if app.agent:
        agent_zh = text.convert_name(app.agent.name, None, region)
        name_pairs.append(TextPair(path="agent.name", original=app.agent.name, converted=agent_zh))
        poa = next(m for m in app.materials if m.code == app.agent.authorisation_material)
        agent_out = AgentOut(
            name_zh=agent_zh,
            surname=app.agent.name_latin.surname.upper(),
            given=app.agent.name_latin.given.upper(),
            identity=app.agent.identity,
            authorisation_doc_id=poa.doc_id,
        )

    cal = calendar("CN-GD")
    filed = app.submitted_at.astimezone(UTC_PLUS_8).date()
    submission = Submission(
        header=SubmissionHeader(
            message_id=message_id,
            case_ref=case_ref_for(app.application_no, region),
            sent_at=sent_at.astimezone(UTC_PLUS_8),
            recipient=mapping.agency,
        ),
        service=SubmissionService(
            service_code=mapping.service.code,
            source_item_code=item.item_code,
            name_zh=service_name,
            name_foreign=(mapping.service.name_en if region == "HK" else mapping.service.name_pt)
            or "",
        ),
        applicant=ApplicantOut(
            name_zh=applicant_zh,
            surname=app.applicant.name_latin.surname.upper(),
            given=app.applicant.name_latin.given.upper(),
            identity=app.applicant.identity,
            birth_date=app.applicant.birth_date,
            phone=app.applicant.mobile,
            email=app.applicant.email,
            address=address_out(app.applicant.address, applicant_addr),
        ),
        agent=agent_out,
        particulars=[
            p
            for i, f in enumerate(mapping.fields)
            if (
                p := _particular(
                    f,
                    app,
                    converted[field_idx[i]] if i in field_idx else form_names.get(f.source or ""),
                )
            )
        ],
        documents=[
            DocumentRef(
                doc_id=m.doc_id,
                type=mapping.documents[m.code],
                media_type=m.media_type,
                size=m.size,
                sha256=m.sha256,
                uri=m.url,
            )
            for m in app.materials
        ],
        deficiencies=[
            PendingDocument(
                type=mapping.documents[code],
                due_date=cal.add_working_days(filed, item.material(code).deficiency_days),  # type: ignore[union-attr]
            )
            for code in app.deficient
        ],
        commitment=(
            CommitmentOut(
                accepted=app.commitment.accepted,
                at=app.commitment.at,
                text=converted[commitment_idx],  # type: ignore[index]
            )
            if app.commitment
            else None
        ),
        consents=[
            ConsentOut(purpose=c.purpose, biometric=c.biometric, at=c.at) for c in app.consents
        ],
        time_limit=TimeLimit(
            committed_days=item.committed_days,
            statutory_days=item.statutory_days,
            due_date=cal.add_working_days(filed, item.committed_days),
        ),
        delivery=DeliveryOut(
            channel=app.delivery.channel,
            address=address_out(app.delivery.address, delivery_addr),
        ),
    )
    return Translation(submission=submission, texts=name_pairs + catalogue_pairs + texts.pairs())


def _particular(f: FieldMap, app: Application, converted: str | None) -> Particular | None:
    if f.value is not None:
        return Particular(name=f.name, value=f.value, currency=f.currency)
    if f.source not in app.form:
        return None  # optional and not filled in
    value = app.form[f.source]
    if f.type in ("text", "name"):
        return Particular(name=f.name, value=converted or "")
    if f.type == "enum" and f.values is not None:
        return Particular(name=f.name, value=f.values[str(value)])
    currency = None
    if f.type == "amount":
        currency = f.currency or str(app.form.get(f.currency_from or "", "")) or None
    return Particular(name=f.name, value=_lexical(value), currency=currency)
