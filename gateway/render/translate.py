"""From a validated application to a :class:`Submission`: mapping applied, texts converted.

Only what the mapping names leaves the gateway (data minimisation): form fields are read
through the mapping's field list and never copied wholesale. All Chinese texts of one case go
through OpenCC in one batch (:class:`TextBatch`); each original is kept beside its conversion
in the case.

:func:`translate` only orders the work: collect the texts, convert them once, then build each
part of the submission with one small function (:func:`applicant`, :func:`agent`,
:func:`particulars`, :func:`documents`, :func:`deficiencies`, :func:`time_limit`,
:func:`delivery` …), each readable and testable alone.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from gateway.domain import (
    Address,
    Application,
    Commitment,
    Delivery,
    DocumentRef,
    FormValue,
    MessageHeader,
    Particular,
    PendingDocument,
    Region,
    ServiceItem,
    Submission,
    SubmissionAgent,
    SubmissionApplicant,
    SubmissionService,
    TextPair,
    TimeLimit,
)
from gateway.domain.base import validator_of
from gateway.domain.workdays import calendar
from gateway.mappings.engine import FieldMap, Mapping
from gateway.render.documents import UTC_PLUS_8, xs_boolean
from gateway.text import convert as text
from signing.parties import GATEWAY_PARTY

#: the calendar deadlines are counted in: the Guangdong office that took the application
FILING_CALENDAR = "CN-GD"

# Each model is built through its core validator (domain.base.validator_of): validated as
# ``Model(**fields)`` is, ~3 K instructions cheaper a model, ~35 models a document.
_address = validator_of(Address)
_pair = validator_of(TextPair)
_header = validator_of(MessageHeader)
_service = validator_of(SubmissionService)
_applicant = validator_of(SubmissionApplicant)
_agent = validator_of(SubmissionAgent)
_particular = validator_of(Particular)
_document = validator_of(DocumentRef)
_pending = validator_of(PendingDocument)
_commitment = validator_of(Commitment)
_time_limit = validator_of(TimeLimit)
_delivery = validator_of(Delivery)
_submission = validator_of(Submission)


def case_ref_for(application_no: str, region: str) -> str:
    """``GBA-`` + 20 upper-case hex digits (80 bits) of SHA-256 over the application number.

    Derived, not random, so that a resubmitted application lands on the same case.
    """
    digest = hashlib.sha256(f"{application_no}\x1f{region}".encode()).hexdigest()
    return "GBA-" + digest[:20].upper()


class TextBatch:
    """Collects texts to convert, converts them in one call, and remembers each original.

    ``add`` returns a handle; after :meth:`convert`, ``batch[handle]`` is the converted text.
    """

    def __init__(self) -> None:
        self._paths: list[str] = []
        self._originals: list[str] = []
        self._converted: list[str] | None = None
        self._decided: list[str] = []

    def add(self, path: str, original: str) -> int:
        self._paths.append(path)
        self._originals.append(original)
        return len(self._originals) - 1

    def add_address(self, base: str, address: Address | None) -> list[int] | None:
        """Every line of ``address`` as ``<base>.lines[i]``; None when there is no address."""
        if address is None:
            return None
        return [self.add(f"{base}.lines[{i}]", line) for i, line in enumerate(address.lines)]

    def convert(self, region: Region) -> None:
        done = text.convert_decided(self._originals, region)
        self._converted = [c.text for c in done]
        self._decided = [c.decided_by for c in done]

    def __getitem__(self, handle: int) -> str:
        if self._converted is None:
            raise RuntimeError("TextBatch.convert() has not run")
        return self._converted[handle]

    def address(self, address: Address | None, handles: list[int] | None) -> Address | None:
        """``address`` with its lines converted (the handles ``add_address`` returned)."""
        if address is None or handles is None:
            return None
        return _address({"lines": [self[h] for h in handles], "region": address.region})

    def pairs(self) -> list[TextPair]:
        if self._converted is None:
            raise RuntimeError("TextBatch.convert() has not run")
        return [
            _pair({"path": p, "original": o, "converted": c, "decided_by": d})
            for p, o, c, d in zip(
                self._paths, self._originals, self._converted, self._decided, strict=True
            )
        ]


@dataclass
class Translation:
    submission: Submission
    texts: list[TextPair]


def translate(
    app: Application,
    item: ServiceItem,
    mapping: Mapping,
    *,
    message_id: str,
    sent_at: dt.datetime,
) -> Translation:
    """The submission for ``app`` under ``mapping``, and every text sent beside its original."""
    region = mapping.region
    batch = TextBatch()
    applicant_lines = batch.add_address("applicant.address", app.applicant.address)
    delivery_lines = batch.add_address("delivery.address", app.delivery.address)
    commitment_text = batch.add("commitment.text", app.commitment.text) if app.commitment else None
    # Attributes of pydantic models are read once into locals throughout: each read costs
    # several times a plain attribute's (their __getattr__ defeats the interpreter's caches).
    form = app.form
    fields = mapping.fields
    field_texts: dict[int, int] = {}
    for i, f in enumerate(fields):
        source, kind = f.source, f.type
        if source in form and (kind == "text" or (kind == "name" and not is_person(f, app))):
            field_texts[i] = batch.add(f"form.{source}", str(form[source]))
    batch.convert(region)

    names, name_pairs = form_names(app, mapping, region)
    applicant_, applicant_pair = applicant(
        app, region, batch.address(app.applicant.address, applicant_lines)
    )
    agent_, agent_pairs = agent(app, region)
    service_, service_pairs = service(item, mapping)
    field_values = [
        batch[field_texts[i]] if i in field_texts else names.get(f.source or "")
        for i, f in enumerate(fields)
    ]
    filed = filing_date(app)
    submission = _submission(
        {
            "header": header(app, mapping, message_id=message_id, sent_at=sent_at),
            "service": service_,
            "applicant": applicant_,
            "agent": agent_,
            "particulars": particulars(app, mapping, field_values),
            "documents": documents(app, mapping),
            "deficiencies": deficiencies(app, item, mapping, filed),
            "commitment": commitment(
                app, None if commitment_text is None else batch[commitment_text]
            ),
            "consents": list(app.consents),
            "time_limit": time_limit(item, filed),
            "delivery": delivery(app, batch.address(app.delivery.address, delivery_lines)),
        }
    )
    texts = name_pairs + [applicant_pair] + agent_pairs + service_pairs + batch.pairs()
    return Translation(submission=submission, texts=texts)


# --- the parts of a submission, one function each -----------------------------------------------


def header(
    app: Application, mapping: Mapping, *, message_id: str, sent_at: dt.datetime
) -> MessageHeader:
    """From the gateway to the mapping's agency, sent at ``sent_at`` written in +08:00."""
    return _header(
        {
            "message_id": message_id,
            "case_ref": case_ref_for(app.application_no, mapping.region),
            "sent_at": sent_at.astimezone(UTC_PLUS_8),
            "sender": GATEWAY_PARTY,
            "recipient": mapping.agency,
        }
    )


def service(item: ServiceItem, mapping: Mapping) -> tuple[SubmissionService, list[TextPair]]:
    """The agency's service; the item name is converted only when the mapping names none."""
    region = mapping.region
    name_zh = mapping.service.name_zh
    pairs: list[TextPair] = []
    if name_zh is None:
        name_zh = text.to_traditional_catalogue(item.name, region)
        pairs.append(
            _pair(
                {
                    "path": "item.name",
                    "original": item.name,
                    "converted": name_zh,
                    "decided_by": "catalogue",
                }
            )
        )
    foreign = mapping.service.name_en if region == "HK" else mapping.service.name_pt
    return (
        _service(
            {
                "service_code": mapping.service.code,
                "source_item_code": item.item_code,
                "name_zh": name_zh,
                "name_foreign": foreign or "",
            }
        ),
        pairs,
    )


def applicant(
    app: Application, region: Region, address: Address | None
) -> tuple[SubmissionApplicant, TextPair]:
    """The applicant, name converted (None when unsafe), ``address`` already converted."""
    a = app.applicant
    name_zh, decided = text.convert_name_decided(a.name, a.name_traditional, region)
    return (
        _applicant(
            {
                "name_zh": name_zh,
                "surname": a.name_latin.surname.upper(),
                "given": a.name_latin.given.upper(),
                "identity": a.identity,
                "birth_date": a.birth_date,
                "phone": a.mobile,
                "email": a.email,
                "address": address,
            }
        ),
        _pair(
            {
                "path": "applicant.name",
                "original": a.name,
                "converted": name_zh,
                "decided_by": decided,
            }
        ),
    )


def agent(app: Application, region: Region) -> tuple[SubmissionAgent | None, list[TextPair]]:
    """The agent, if any, with the document id of their power of attorney."""
    if app.agent is None:
        return None, []
    g = app.agent
    name_zh, decided = text.convert_name_decided(g.name, None, region)
    poa = next(m for m in app.materials if m.code == g.authorisation_material)
    return (
        _agent(
            {
                "name_zh": name_zh,
                "surname": g.name_latin.surname.upper(),
                "given": g.name_latin.given.upper(),
                "identity": g.identity,
                "authorisation_doc_id": poa.doc_id,
            }
        ),
        [
            _pair(
                {
                    "path": "agent.name",
                    "original": g.name,
                    "converted": name_zh,
                    "decided_by": decided,
                }
            )
        ],
    )


def form_names(
    app: Application, mapping: Mapping, region: Region
) -> tuple[dict[str, str], list[TextPair]]:
    """Form fields the mapping types ``name`` (and that hold a person, see :func:`is_person`),
    converted one by one through the name rules, by source field.

    A name equal to the applicant's own (a legal representative who is the applicant) is
    written as the applicant's ``nameTraditional`` when given. An ambiguous name goes as filed:
    the registered name beats a guessed character.
    """
    names: dict[str, str] = {}
    pairs: list[TextPair] = []
    own = app.applicant
    form = app.form
    for f in mapping.fields:
        if f.type != "name":
            continue
        source = f.source
        if source in form and source not in names:
            if not is_person(f, app):
                continue  # an organisation: converted as text
            filed = str(form[source])
            given = own.name_traditional if filed.strip() == own.name.strip() else None
            converted, decided = text.convert_name_decided(filed, given, region)
            if converted is None:
                converted, decided = filed, "ambiguous+as-filed"
            names[source] = converted
            pairs.append(
                _pair(
                    {
                        "path": f"form.{source}",
                        "original": filed,
                        "converted": converted,
                        "decided_by": decided,
                    }
                )
            )
    return names, pairs


def is_person(f: FieldMap, app: Application) -> bool:
    """A ``name`` field holds a person unless its ``personWhen`` condition says otherwise (an
    investor may be a company: ``personWhen: {investorType: [HK_INDIVIDUAL, MO_INDIVIDUAL]}``)."""
    person_when = f.person_when
    if person_when is None:
        return True
    form = app.form
    return all(str(form.get(k, "")) in values for k, values in person_when.items())


def particulars(
    app: Application, mapping: Mapping, texts: Sequence[str | None]
) -> list[Particular]:
    """One particular per mapped field that has a value; ``texts[i]`` is field i's converted
    text (text and name fields), None for the others."""
    return [
        p
        for f, converted in zip(mapping.fields, texts, strict=True)
        if (p := particular(f, app, converted)) is not None
    ]


def particular(f: FieldMap, app: Application, converted: str | None) -> Particular | None:
    """One mapped field in the agency's vocabulary; None when optional and not filled in."""
    fixed = f.value
    if fixed is not None:
        return _particular({"name": f.name, "value": fixed, "currency": f.currency})
    source, form = f.source, app.form
    if source not in form:
        return None  # optional and not filled in
    value = form[source]
    kind = f.type
    if kind in ("text", "name"):
        return _particular({"name": f.name, "value": converted or ""})
    if kind == "enum":
        values = f.values
        if values is not None:
            return _particular({"name": f.name, "value": values[str(value)]})
    currency = None
    if kind == "amount":
        currency = f.currency or str(form.get(f.currency_from or "", "")) or None
    return _particular({"name": f.name, "value": lexical(value), "currency": currency})


def lexical(value: FormValue) -> str:
    """A form value in its XSD lexical form (xs:boolean, xs:date, xs:decimal, text)."""
    if isinstance(value, bool):
        return xs_boolean(value)
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return format(value, "f")
    return str(value)


def documents(app: Application, mapping: Mapping) -> list[DocumentRef]:
    """Every attached material, typed in the agency's document codes."""
    return [
        _document(
            {
                "doc_id": m.doc_id,
                "type": mapping.documents[m.code],
                "media_type": m.media_type,
                "size": m.size,
                "sha256": m.sha256,
                "uri": m.url,
            }
        )
        for m in app.materials
    ]


def filing_date(app: Application) -> dt.date:
    """The day the application was filed, in Guangdong (+08:00)."""
    return app.submitted_at.astimezone(UTC_PLUS_8).date()


def deficiencies(
    app: Application, item: ServiceItem, mapping: Mapping, filed: dt.date
) -> list[PendingDocument]:
    """Materials filed later under the 容缺 rule, each due its item's working days after filing."""
    cal = calendar(FILING_CALENDAR)
    pending = []
    for code in app.deficient:
        spec = item.material(code)
        if spec is None:
            raise ValueError(f"{code} is not a material of {item.item_code} (intake checks it)")
        pending.append(
            _pending(
                {
                    "type": mapping.documents[code],
                    "due_date": cal.add_working_days(filed, spec.deficiency_days),
                }
            )
        )
    return pending


def commitment(app: Application, converted_text: str | None) -> Commitment | None:
    """The applicant's commitment (告知承諾), its text converted."""
    if app.commitment is None:
        return None
    if converted_text is None:
        raise ValueError("a commitment needs its converted text")
    return _commitment(
        {"accepted": app.commitment.accepted, "at": app.commitment.at, "text": converted_text}
    )


def time_limit(item: ServiceItem, filed: dt.date) -> TimeLimit:
    """The committed time limit, due that many Guangdong working days after filing."""
    return _time_limit(
        {
            "committed_days": item.committed_days,
            "statutory_days": item.statutory_days,
            "due_date": calendar(FILING_CALENDAR).add_working_days(filed, item.committed_days),
        }
    )


def delivery(app: Application, address: Address | None) -> Delivery:
    """How the result reaches the applicant; ``address`` already converted."""
    return _delivery({"channel": app.delivery.channel, "address": address})
