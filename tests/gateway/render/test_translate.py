"""The pieces of ``translate``, each alone; the golden files in ``test_pipeline`` hold the whole."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal

import pytest

from gateway.devkit.examples import bundled_examples
from gateway.domain import Address, Application, ServiceItem
from gateway.domain.workdays import calendar
from gateway.mappings.engine import FieldMap, Mapping
from gateway.render import translate as tr
from gateway.render.pipeline import Pipeline
from signing.parties import GATEWAY_PARTY

EXAMPLES = {p.stem: json.loads(p.read_text(encoding="utf-8")) for p in bundled_examples()}
HKT = dt.timezone(dt.timedelta(hours=8))


def parts(pipeline: Pipeline, name: str) -> tuple[Application, ServiceItem, Mapping]:
    app = pipeline.accept(EXAMPLES[name])
    item = pipeline.catalogue.get(app.item_code, app.item_version)
    mapping = pipeline.mappings.find(app.item_code, app.item_version, app.target_region)
    assert item is not None and mapping is not None
    return app, item, mapping


def test_header_is_from_the_gateway_to_the_mappings_agency_in_hong_kong_time(
    pipeline: Pipeline,
) -> None:
    app, _, mapping = parts(pipeline, "northbound-vehicle-hk")
    sent = dt.datetime(2025, 3, 20, 1, 0, tzinfo=dt.UTC)
    header = tr.header(app, mapping, message_id="m-1", sent_at=sent)
    assert (header.sender, header.recipient) == (GATEWAY_PARTY, mapping.agency)
    assert header.sent_at.utcoffset() == dt.timedelta(hours=8) and header.sent_at == sent
    assert header.case_ref == tr.case_ref_for(app.application_no, "HK")
    assert header.case_ref != tr.case_ref_for(app.application_no, "MO")


def test_applicant_upper_cases_the_latin_name_and_keeps_the_address_given(
    pipeline: Pipeline,
) -> None:
    app, _, _ = parts(pipeline, "northbound-vehicle-hk")
    address = Address(lines=["converted"], region="CN-GD")
    applicant, pair = tr.applicant(app, "HK", address)
    assert applicant.surname == app.applicant.name_latin.surname.upper()
    assert applicant.given == app.applicant.name_latin.given.upper()
    assert applicant.address is address and applicant.phone == app.applicant.mobile
    assert (pair.path, pair.original, pair.converted) == (
        "applicant.name",
        app.applicant.name,
        applicant.name_zh,
    )


def test_agent_names_the_power_of_attorney_by_document_id(pipeline: Pipeline) -> None:
    app, _, _ = parts(pipeline, "investor-company-registration-hk")
    agent, pairs = tr.agent(app, "HK")
    assert app.agent is not None and agent is not None
    poa = next(m for m in app.materials if m.code == app.agent.authorisation_material)
    assert agent.authorisation_doc_id == poa.doc_id
    assert [p.path for p in pairs] == ["agent.name"]
    without, none = tr.agent(app.model_copy(update={"agent": None}), "HK")
    assert (without, none) == (None, [])


@pytest.mark.parametrize(
    ("field", "form", "expected"),
    [
        (FieldMap(name="Fixed", type="code", value="X1", currency=None), {}, ("X1", None)),
        (
            FieldMap(name="Colour", type="enum", source="c", values={"red": "R"}),
            {"c": "red"},
            ("R", None),
        ),
        (FieldMap(name="Paid", type="bool", source="p"), {"p": True}, ("true", None)),
        (
            FieldMap(name="On", type="date", source="d"),
            {"d": dt.date(2025, 1, 2)},
            ("2025-01-02", None),
        ),
        (
            FieldMap(name="Capital", type="amount", source="a", currencyFrom="cur"),
            {"a": Decimal("1E+3"), "cur": "MOP"},
            ("1000", "MOP"),
        ),
        (FieldMap(name="Scope", type="text", source="s"), {"s": "ignored"}, ("converted", None)),
    ],
)
def test_particular_writes_each_kind_in_its_lexical_form(
    pipeline: Pipeline, field: FieldMap, form: dict, expected: tuple[str, str | None]
) -> None:
    app, _, _ = parts(pipeline, "northbound-vehicle-hk")
    app = app.model_copy(update={"form": form})
    p = tr.particular(field, app, "converted")
    assert p is not None and (p.value, p.currency) == expected


def test_an_optional_field_not_filled_in_is_left_out(pipeline: Pipeline) -> None:
    app, _, _ = parts(pipeline, "northbound-vehicle-hk")
    app = app.model_copy(update={"form": {}})
    assert tr.particular(FieldMap(name="Scope", type="text", source="s"), app, None) is None


def test_deficiencies_are_due_working_days_after_filing(pipeline: Pipeline) -> None:
    app, item, mapping = parts(pipeline, "driving-licence-exchange-hk")
    filed = tr.filing_date(app)
    (pending,) = tr.deficiencies(app, item, mapping, filed)
    spec = item.material("M05")
    assert spec is not None
    assert pending.type == mapping.documents["M05"]
    assert pending.due_date == calendar("CN-GD").add_working_days(filed, spec.deficiency_days)
    unknown = app.model_copy(update={"deficient": ["NOPE"]})
    with pytest.raises(ValueError, match="NOPE"):
        tr.deficiencies(unknown, item, mapping, filed)


def test_time_limit_counts_guangdong_working_days(pipeline: Pipeline) -> None:
    _, item, _ = parts(pipeline, "northbound-vehicle-hk")
    friday = dt.date(2026, 1, 2)
    limit = tr.time_limit(item, friday)
    assert limit.committed_days == item.committed_days
    assert limit.due_date == calendar("CN-GD").add_working_days(friday, item.committed_days)
    assert limit.due_date > friday


def test_filing_date_is_the_day_in_guangdong(pipeline: Pipeline) -> None:
    app, _, _ = parts(pipeline, "northbound-vehicle-hk")
    late = dt.datetime(2025, 3, 20, 17, 30, tzinfo=dt.UTC)  # 01:30 on the 21st in Guangdong
    assert tr.filing_date(app.model_copy(update={"submitted_at": late})) == dt.date(2025, 3, 21)


def test_delivery_and_commitment_keep_their_shape_with_converted_text(
    pipeline: Pipeline,
) -> None:
    app, _, _ = parts(pipeline, "investor-company-registration-mo")
    assert app.commitment is not None
    commitment = tr.commitment(app, "轉換後")
    assert commitment is not None and commitment.text == "轉換後"
    assert (commitment.accepted, commitment.at) == (app.commitment.accepted, app.commitment.at)
    assert tr.commitment(app.model_copy(update={"commitment": None}), None) is None
    delivery = tr.delivery(app, None)
    assert delivery.channel == app.delivery.channel and delivery.address is None


def test_text_batch_converts_everything_in_one_call_and_keeps_originals(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    calls: list[list[str]] = []

    def convert(texts: list[str], region: str) -> list[tr.text.Converted]:
        calls.append(list(texts))
        return [tr.text.Converted(t.upper(), "engines") for t in texts]

    monkeypatch.setattr(tr.text, "convert_decided", convert)
    batch = tr.TextBatch()
    lines = batch.add_address("applicant.address", Address(lines=["a", "b"], region="MO"))
    note = batch.add("commitment.text", "c")
    assert batch.add_address("delivery.address", None) is None
    with pytest.raises(RuntimeError):
        batch[note]
    batch.convert("MO")
    assert calls == [["a", "b", "c"]]
    assert batch[note] == "C"
    assert batch.address(Address(lines=["a", "b"], region="MO"), lines) == Address(
        lines=["A", "B"], region="MO"
    )
    assert [(p.path, p.original, p.converted) for p in batch.pairs()] == [
        ("applicant.address.lines[0]", "a", "A"),
        ("applicant.address.lines[1]", "b", "B"),
        ("commitment.text", "c", "C"),
    ]


def test_translate_records_every_text_it_sends(pipeline: Pipeline) -> None:
    app, item, mapping = parts(pipeline, "investor-company-registration-hk")
    result = tr.translate(
        app, item, mapping, message_id="m-1", sent_at=dt.datetime(2025, 3, 20, tzinfo=dt.UTC)
    )
    paths = [p.path for p in result.texts]
    assert len(paths) == len(set(paths))
    assert {"applicant.name", "agent.name"} <= set(paths)
    s = result.submission
    assert s.applicant.address is not None
    sent_lines = {p.converted for p in result.texts if p.path.startswith("applicant.address")}
    assert set(s.applicant.address.lines) == sent_lines
    assert s.consents == app.consents


def test_name_fields_go_through_the_name_rules(pipeline: Pipeline) -> None:
    app, _, mapping = parts(pipeline, "investor-company-registration-hk")
    form = dict(app.form) | {"legalRepresentative": "梁子豪"}
    names, pairs = tr.form_names(app.model_copy(update={"form": form}), mapping, "HK")
    assert names["legalRepresentative"] == "梁子豪"  # never 樑, the word
    assert pairs[0].decided_by == "name-rules"
    # an ambiguous name goes as filed
    form["legalRepresentative"] = "于嘉欣"
    names, pairs = tr.form_names(app.model_copy(update={"form": form}), mapping, "HK")
    assert names["legalRepresentative"] == "于嘉欣" and "as-filed" in (pairs[0].decided_by or "")


def test_name_field_equal_to_the_applicant_uses_name_traditional(pipeline: Pipeline) -> None:
    app, _, mapping = parts(pipeline, "investor-company-registration-mo")
    me = app.applicant.model_copy(update={"name": "于嘉欣", "name_traditional": "於嘉欣"})
    form = dict(app.form) | {"legalRepresentative": "于嘉欣"}
    names, pairs = tr.form_names(
        app.model_copy(update={"applicant": me, "form": form}), mapping, "MO"
    )
    assert names["legalRepresentative"] == "於嘉欣"
    assert pairs[0].decided_by == "nameTraditional"


def test_investor_is_a_person_only_when_the_type_says_so(pipeline: Pipeline) -> None:
    app, _, mapping = parts(pipeline, "investor-company-registration-hk")
    company = app.model_copy(update={"form": dict(app.form) | {"investorType": "HK_COMPANY"}})
    person = app.model_copy(
        update={
            "form": dict(app.form) | {"investorType": "HK_INDIVIDUAL", "investorName": "胡子健"}
        }
    )
    sent = dt.datetime(2025, 3, 20, 1, 0, tzinfo=dt.UTC)
    item = pipeline.catalogue.get(app.item_code, app.item_version)
    assert item is not None
    by_company = tr.translate(company, item, mapping, message_id="m", sent_at=sent)
    by_person = tr.translate(person, item, mapping, message_id="m", sent_at=sent)
    value = {p.name: p.value for p in by_person.submission.particulars}
    assert value["InvestorName"] == "胡子健"  # the name rules: s2hk as a word writes 鬍子健
    pair = next(t for t in by_company.texts if t.path == "form.investorName")
    assert pair.decided_by is not None and "name" not in pair.decided_by


def test_every_text_pair_says_what_decided_it(pipeline: Pipeline) -> None:
    for name in EXAMPLES:
        app, item, mapping = parts(pipeline, name)
        sent = dt.datetime(2025, 3, 20, 1, 0, tzinfo=dt.UTC)
        done = tr.translate(app, item, mapping, message_id="m", sent_at=sent)
        assert all(t.decided_by for t in done.texts), name
