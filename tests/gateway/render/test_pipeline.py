"""The vertical slice: every bundled example becomes a signed, schema-valid agency document."""

from __future__ import annotations

import copy
import datetime as dt
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lxml import etree

from gateway.devkit.examples import bundled_examples
from gateway.mappings.engine import MappingSet, bundled_mappings_dir
from gateway.registry import installed_formats
from gateway.render.pipeline import Pipeline

EXAMPLES = {p.stem: json.loads(p.read_text(encoding="utf-8")) for p in bundled_examples()}
GOLDEN = Path(__file__).parent / "golden"
FIXED_ID = "6f1c2a8e-3b7d-4c55-9e0a-1d2f3a4b5c6d"
FIXED_AT = dt.datetime(2025, 3, 20, 9, 0, tzinfo=dt.UTC)
ROOTS = {
    "HK": ("urn:hk-gov:cbce:1.0", "CaseSubmission"),
    "MO": ("urn:mo-gov:sip:1.0", "PedidoProcesso"),
}


def render(pipeline: Pipeline, data: dict, key=None) -> bytes:
    app = pipeline.accept(data)
    return pipeline.render(app, key, message_id=FIXED_ID, sent_at=FIXED_AT).to_bytes()


def xmlsec_verify(
    xmlsec1: str, document: bytes, region: str, trusted: list[str], tmp: Path
) -> subprocess.CompletedProcess:
    ns, root = ROOTS[region]
    path = tmp / "doc.xml"
    path.write_bytes(document)
    args = [xmlsec1, "--verify", "--id-attr:Id", f"{ns}:{root}"]
    return subprocess.run(args + trusted + [str(path)], capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize("name", sorted(EXAMPLES))
def test_example_renders_signs_and_verifies_with_xmlsec1(
    name: str, pipeline: Pipeline, keys, xmlsec1: str, tmp_path: Path
) -> None:
    data = EXAMPLES[name]
    document = render(pipeline, data, keys.gateway_key())
    root = etree.fromstring(document)
    region = data["targetRegion"]
    assert (etree.QName(root).namespace, etree.QName(root).localname) == ROOTS[region]
    pipeline.formats[region].validate(root)  # the signed document, as the agency sees it
    trusted = ["--trusted-pem", str(keys.path / "ca" / "ca.cert.pem")]
    ok = xmlsec_verify(xmlsec1, document, region, trusted, tmp_path)
    assert ok.returncode == 0, ok.stderr
    # the witness must be able to say no: one changed character in signed content
    code = data["itemCode"].encode()
    tampered = document.replace(code, code[:-1] + b"9", 1)
    assert tampered != document
    bad = xmlsec_verify(xmlsec1, tampered, region, trusted, tmp_path)
    assert bad.returncode != 0


@pytest.mark.parametrize("name", sorted(EXAMPLES))
def test_golden_document(name: str, pipeline: Pipeline) -> None:
    """Unsigned output per mapping, byte for byte (GOLDEN_UPDATE=1 rewrites the files)."""
    document = render(pipeline, EXAMPLES[name])
    pretty = etree.tostring(etree.fromstring(document), pretty_print=True, encoding="unicode")
    golden = GOLDEN / f"{name}.xml"
    if os.environ.get("GOLDEN_UPDATE") == "1":
        golden.write_text(pretty, encoding="utf-8")
    assert golden.exists(), f"{golden} missing: run with GOLDEN_UPDATE=1 once and review it"
    assert pretty == golden.read_text(encoding="utf-8")


def test_every_mapping_has_a_golden_file() -> None:
    mapped = {p.stem.replace(".", "-") for p in bundled_mappings_dir().glob("*.yaml")}
    assert mapped == {p.stem for p in GOLDEN.glob("*.xml")}


def test_field_no_mapping_names_never_leaves(pipeline: Pipeline) -> None:
    data = copy.deepcopy(EXAMPLES["pension-proof-of-life-hk"])
    data["form"]["bankAccountTail"] = "7391"  # in the item, in no mapping
    document = render(pipeline, data)
    assert b"7391" not in document
    assert b"bankAccountTail" not in document


def test_dropping_a_field_from_a_mapping_stops_it_leaving(
    pipeline: Pipeline, tmp_path: Path
) -> None:
    for path in bundled_mappings_dir().glob("*.yaml"):
        shutil.copy(path, tmp_path)
    target = tmp_path / "northbound-vehicle.hk.yaml"
    text = target.read_text("utf-8")
    target.write_text(
        text.replace("  - {name: Remarks, source: remarks, type: text}\n", ""), "utf-8"
    )
    narrowed = Pipeline(
        pipeline.catalogue,
        MappingSet.load(pipeline.catalogue, installed_formats(), tmp_path),
    )
    data = copy.deepcopy(EXAMPLES["northbound-vehicle-hk"])
    data["form"]["remarks"] = "备注标记ZQX"
    assert "備註標記ZQX".encode() in render(pipeline, data)
    assert b"ZQX" not in render(narrowed, data)


def _names(document: bytes, region: str) -> list[str | None]:
    root = etree.fromstring(document)
    ns = ROOTS[region][0]
    tag = "Applicant/{ns}NameZh" if region == "HK" else "Requerente/{ns}NomeChines"
    found = root.find(f"{{{ns}}}" + tag.format(ns=f"{{{ns}}}"))
    return [None if found is None else found.text]


@pytest.mark.parametrize("region", ["HK", "MO"])
@pytest.mark.parametrize("surname", list("于余范党种朴游后"))
def test_ambiguous_surname_left_out_unless_given_traditional(
    pipeline: Pipeline, region: str, surname: str
) -> None:
    name = "northbound-vehicle-hk" if region == "HK" else "northbound-vehicle-mo"
    data = copy.deepcopy(EXAMPLES[name])
    data["applicant"]["name"] = surname + "嘉欣"
    data["applicant"].pop("nameTraditional", None)
    assert _names(render(pipeline, data), region) == [None]
    data["applicant"]["nameTraditional"] = "俞嘉欣"  # the applicant's own spelling wins
    assert _names(render(pipeline, data), region) == ["俞嘉欣"]


def test_unambiguous_name_converted(pipeline: Pipeline) -> None:
    assert _names(render(pipeline, EXAMPLES["driving-licence-exchange-hk"]), "HK") == ["劉嘉欣"]


def test_place_name_character_kept(pipeline: Pipeline) -> None:
    data = copy.deepcopy(EXAMPLES["driving-licence-exchange-hk"])
    data["applicant"]["address"]["lines"] = ["广州市海珠区涌边村12号"]
    document = render(pipeline, data).decode()
    assert "涌邊村" in document and "湧" not in document


def test_case_keeps_original_and_converted_texts_and_versions(pipeline: Pipeline) -> None:
    app = pipeline.accept(EXAMPLES["investor-company-registration-mo"])
    case = pipeline.render(app, None, message_id=FIXED_ID, sent_at=FIXED_AT).case
    scope = next(t for t in case.texts if t.path == "form.businessScope")
    assert scope.original == EXAMPLES["investor-company-registration-mo"]["form"]["businessScope"]
    assert scope.converted and scope.converted != scope.original
    assert (case.item_version, case.mapping_id, case.mapping_version) == (
        1,
        "investor-company-registration.mo",
        2,
    )
    assert [m.message_id for m in case.messages] == [FIXED_ID]


def test_resubmission_keeps_its_case_ref(pipeline: Pipeline) -> None:
    app = pipeline.accept(EXAMPLES["northbound-vehicle-hk"])
    first = pipeline.render(app, None).case.case_ref
    again = pipeline.render(app, None).case.case_ref
    assert first == again and first.startswith("GBA-") and len(first) == 24


def test_deficiency_due_date_counts_working_days(pipeline: Pipeline) -> None:
    # Filed Wed 2025-03-12; M05 may follow within 5 working days -> Wed 2025-03-19.
    document = render(pipeline, EXAMPLES["driving-licence-exchange-hk"]).decode()
    assert 'DueDate="2025-03-19"' in document
    # committed 10 working days -> 2025-03-26
    assert 'CommittedWorkingDays="10"' in document and 'DueDate="2025-03-26"' in document


# --- property: any valid generated application renders to a schema-valid document ---------

CJK = st.characters(min_codepoint=0x4E00, max_codepoint=0x9FA5)
LATIN = st.from_regex(r"[A-Z][A-Z ]{0,12}[A-Z]", fullmatch=True)


def _value(spec) -> st.SearchStrategy:
    if spec.type == "enum":
        return st.sampled_from(spec.enum)
    if spec.type == "bool":
        return st.booleans()
    if spec.type == "int":
        return st.integers(min_value=0, max_value=10**6)
    if spec.type == "decimal":
        return st.decimals(min_value=0, max_value=10**9, places=2).map(lambda d: format(d, "f"))
    if spec.type == "date":
        return st.dates(min_value=dt.date(1950, 1, 1), max_value=dt.date(2040, 12, 31)).map(str)
    return st.text(CJK | st.sampled_from("ABCXYZ0123456789 -（）"), min_size=1, max_size=40).filter(
        lambda s: s.strip()
    )


@st.composite
def applications(draw, pipeline: Pipeline):
    name = draw(st.sampled_from(sorted(EXAMPLES)))
    data = copy.deepcopy(EXAMPLES[name])
    item = pipeline.catalogue.get(data["itemCode"], data["itemVersion"])
    form = {}
    for spec in item.form:
        if spec.required or draw(st.booleans()):
            form[spec.key] = draw(_value(spec))
    data["form"] = form
    supplied = {m["code"] for m in data["materials"]}
    tolerated = [m.code for m in item.materials if m.deficiency_allowed and m.code in supplied]
    if data.get("agent") is None:
        missing = draw(st.lists(st.sampled_from(tolerated), unique=True)) if tolerated else []
        data["materials"] = [m for m in data["materials"] if m["code"] not in missing]
        data["deficient"] = sorted(set(data["deficient"]) | set(missing))
    data["applicant"]["name"] = draw(st.text(CJK, min_size=2, max_size=4))
    data["applicant"]["nameLatin"] = {"surname": draw(LATIN), "given": draw(LATIN)}
    if data["applicant"].get("address"):
        data["applicant"]["address"]["lines"] = draw(
            st.lists(
                _value(item.form[0].model_copy(update={"type": "string"})), min_size=1, max_size=3
            )
        )
    return data


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
def test_any_valid_application_renders_schema_valid(pipeline: Pipeline, data) -> None:
    application = data.draw(applications(pipeline))
    app = pipeline.accept(application)
    rendered = pipeline.render(app, None)  # render() validates against the XSD itself
    pipeline.formats[app.target_region].validate(rendered.document)
