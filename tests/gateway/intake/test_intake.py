"""Intake: every class of invalid input is reported with the JSON path of its field."""

from __future__ import annotations

import copy
import datetime as dt
import json

import pytest

from gateway.catalogue.loader import Catalogue
from gateway.clock import FixedClock
from gateway.devkit.examples import bundled_examples
from gateway.intake.validator import ApplicationRejected, Intake

EXAMPLES = {p.stem: json.loads(p.read_text(encoding="utf-8")) for p in bundled_examples()}


@pytest.fixture(scope="module")
def intake() -> Intake:
    return Intake(Catalogue.load())


def example(name: str) -> dict:
    return copy.deepcopy(EXAMPLES[name])


def problems(intake: Intake, data: dict) -> dict[str, str]:
    with pytest.raises(ApplicationRejected) as exc:
        intake.parse(data)
    return {p.path: p.message for p in exc.value.problems}


@pytest.mark.parametrize("name", sorted(EXAMPLES))
def test_every_bundled_example_is_valid(intake: Intake, name: str) -> None:
    app = intake.parse(example(name))
    assert app.application_no == EXAMPLES[name]["applicationNo"]
    assert app.applicant.mobile.startswith("+")


def test_all_problems_reported_at_once(intake: Intake) -> None:
    data = example("northbound-vehicle-hk")
    data["applicant"]["idNumber"] = "A123456(0)"
    data["applicant"]["idType"] = "HK_ID"
    data["form"]["seatCount"] = "five"
    data["materials"] = data["materials"][:1]
    data["channel"] = "KIOSK"
    found = problems(intake, data)
    assert {"applicant.idNumber", "form.seatCount", "materials", "channel"} <= set(found)


def test_unknown_item(intake: Intake) -> None:
    data = example("northbound-vehicle-hk")
    data["itemCode"] = "11440000006939027K2440172041999"
    assert "unknown service item" in problems(intake, data)["itemCode"]


def test_unknown_item_version(intake: Intake) -> None:
    data = example("northbound-vehicle-hk")
    data["itemVersion"] = 7
    assert "no version 7" in problems(intake, data)["itemVersion"]


def test_withdrawn_item(tmp_path) -> None:
    from gateway.catalogue.loader import bundled_items_dir

    record = json.loads((bundled_items_dir() / "northbound-vehicle.json").read_text("utf-8"))
    record["status"] = "WITHDRAWN"
    (tmp_path / "nb.json").write_text(json.dumps(record), "utf-8")
    found = problems(Intake(Catalogue.load(tmp_path)), example("northbound-vehicle-hk"))
    assert "withdrawn" in found["itemVersion"]


def test_target_region_not_offered(tmp_path) -> None:
    from gateway.catalogue.loader import bundled_items_dir

    record = json.loads((bundled_items_dir() / "northbound-vehicle.json").read_text("utf-8"))
    record["crossRegion"] = ["MO"]
    (tmp_path / "nb.json").write_text(json.dumps(record), "utf-8")
    found = problems(Intake(Catalogue.load(tmp_path)), example("northbound-vehicle-hk"))
    assert "not handled in HK" in found["targetRegion"]


def test_channel_not_allowed(intake: Intake) -> None:
    data = example("northbound-vehicle-hk")  # ONLINE and MOBILE only
    data["channel"] = "COUNTER"
    assert "cannot be filed via COUNTER" in problems(intake, data)["channel"]


def test_target_region_must_be_hk_or_mo(intake: Intake) -> None:
    data = example("northbound-vehicle-hk")
    data["targetRegion"] = "TW"
    assert "targetRegion" in problems(intake, data)


@pytest.mark.parametrize(
    ("key", "value", "expect"),
    [
        ("seatCount", "5", "whole number"),
        ("seatCount", True, "whole number"),
        ("licenceExpiry", "2027-02-30", "not a real date"),
        ("licenceExpiry", "30/01/2027", "YYYY-MM-DD"),
        ("entryPort", "SHENZHEN_BAY", "not one of"),
        ("secondDriver", "yes", "true or false"),
        ("plateNumber", 1234, "string"),
        ("plateNumber", "  ", "empty"),
    ],
)
def test_form_field_types(intake: Intake, key: str, value: object, expect: str) -> None:
    data = example("northbound-vehicle-hk")
    data["form"][key] = value
    assert expect in problems(intake, data)[f"form.{key}"]


def test_decimal_must_be_a_json_string(intake: Intake) -> None:
    data = example("investor-company-registration-hk")
    data["form"]["registeredCapital"] = 5000000.0
    assert "decimal" in problems(intake, data)["form.registeredCapital"]


def test_required_form_field_missing(intake: Intake) -> None:
    data = example("northbound-vehicle-hk")
    del data["form"]["vin"]
    assert "required" in problems(intake, data)["form.vin"]


def test_unknown_form_field(intake: Intake) -> None:
    data = example("northbound-vehicle-hk")
    data["form"]["vehiclePlate"] = "AB1234"
    assert "not a field" in problems(intake, data)["form.vehiclePlate"]


def test_required_material_missing(intake: Intake) -> None:
    data = example("northbound-vehicle-hk")
    data["materials"] = [m for m in data["materials"] if m["code"] != "M02"]
    assert "M02" in problems(intake, data)["materials"]


def test_missing_material_tolerated_when_deficient(intake: Intake) -> None:
    data = example("northbound-vehicle-hk")
    data["materials"] = [m for m in data["materials"] if m["code"] != "M04"]
    data["deficient"] = ["M04"]  # deficiencyAllowed
    assert intake.parse(data).deficient == ["M04"]


def test_deficient_material_that_does_not_allow_it(intake: Intake) -> None:
    data = example("northbound-vehicle-hk")
    data["materials"] = [m for m in data["materials"] if m["code"] != "M02"]
    data["deficient"] = ["M02"]
    found = problems(intake, data)
    assert "may not be missing" in found["deficient[0]"]


def test_unknown_material_code(intake: Intake) -> None:
    data = example("northbound-vehicle-hk")
    data["materials"][2]["code"] = "M99"
    assert "not a material" in problems(intake, data)["materials[2].code"]


def test_material_hash_and_url(intake: Intake) -> None:
    data = example("northbound-vehicle-hk")
    data["materials"][1]["sha256"] = "XYZ"
    data["materials"][2]["url"] = "http://insecure.example/file.pdf"
    found = problems(intake, data)
    assert "materials[1].sha256" in found and "materials[2].url" in found


def test_biometric_item_needs_separate_biometric_consent(intake: Intake) -> None:
    data = example("pension-proof-of-life-hk")
    data["consents"] = [c for c in data["consents"] if not c["biometric"]]
    assert "biometric" in problems(intake, data)["consents"]


def test_biometric_flag_folded_into_another_consent_is_refused(intake: Intake) -> None:
    data = example("pension-proof-of-life-hk")
    data["consents"] = [c for c in data["consents"] if not c["biometric"]]
    data["consents"][1]["biometric"] = True
    found = problems(intake, data)
    assert "separately" in found["consents[1].purpose"]


def test_cross_border_transfer_consent_required(intake: Intake) -> None:
    data = example("northbound-vehicle-hk")
    data["consents"] = [c for c in data["consents"] if c["purpose"] != "CROSS_BORDER_TRANSFER"]
    assert "CROSS_BORDER_TRANSFER" in problems(intake, data)["consents"]


@pytest.mark.parametrize(
    ("id_type", "number"),
    [
        ("PRC_ID", "440106199304182622"),  # wrong GB 11643 check character
        ("PRC_ID", "810000199304182621"),  # residence permit prefix, check no longer holds
        ("HK_ID", "A123456(0)"),
        ("MO_ID", "2093125(1)"),  # must start 1, 5 or 7
        ("HKMO_PERMIT", "X12345678"),
    ],
)
def test_identity_check_characters(intake: Intake, id_type: str, number: str) -> None:
    data = example("northbound-vehicle-hk")
    data["applicant"]["idType"] = id_type
    data["applicant"]["idNumber"] = number
    data["applicant"]["address"]["region"] = "HK"
    assert "applicant.idNumber" in problems(intake, data)


def test_agent_identity_checked(intake: Intake) -> None:
    data = example("investor-company-registration-hk")
    data["agent"]["idNumber"] = "440305198007023140"
    assert "agent.idNumber" in problems(intake, data)


def test_agent_power_of_attorney_must_be_supplied(intake: Intake) -> None:
    data = example("investor-company-registration-hk")
    data["materials"] = [m for m in data["materials"] if m["code"] != "M06"]
    assert "not supplied" in problems(intake, data)["agent.authorisationMaterial"]


@pytest.mark.parametrize(
    ("printed", "canonical"),
    [
        ("p902741(a)", "P902741(A)"),
        ("P 902741 A", "P902741(A)"),
        ("P902741（A）", "P902741(A)"),
        ("P902741A", "P902741(A)"),
    ],
)
def test_hkid_printed_forms_normalised(intake: Intake, printed: str, canonical: str) -> None:
    data = example("investor-company-registration-hk")
    data["applicant"]["idNumber"] = printed
    assert intake.parse(data).applicant.identity.number == canonical


def test_macao_id_canonical_form(intake: Intake) -> None:
    data = example("pension-proof-of-life-mo")
    data["applicant"]["idNumber"] = "70931251"
    ident = intake.parse(data).applicant.identity
    assert (ident.number, ident.issuing_country) == ("7093125(1)", "MAC")


def test_residence_permit_is_prc_id_from_china(intake: Intake) -> None:
    from gateway.domain.identity import canonical_id

    data = example("northbound-vehicle-hk")
    base = "81000019900307002"  # complete the check character with the project's own rule
    for check in "0123456789X":
        try:
            number = canonical_id("PRC_ID", base + check)
            break
        except ValueError:
            continue
    data["applicant"].update(idType="PRC_ID", idNumber=number, birthDate="1990-03-07")
    ident = intake.parse(data).applicant.identity
    assert ident.residence_permit and ident.issuing_country == "CHN"


@pytest.mark.parametrize(
    ("mobile", "region", "e164"),
    [
        ("13800138000", "CN-GD", "+8613800138000"),
        ("+852 9123 4567", "CN-GD", "+85291234567"),
        ("00852-9123-4567", "CN-GD", "+85291234567"),
        ("6123 4567", "MO", "+85361234567"),
        ("9123-4567", "HK", "+85291234567"),
    ],
)
def test_mobile_normalised_to_e164(intake: Intake, mobile: str, region: str, e164: str) -> None:
    data = example("northbound-vehicle-hk")
    data["applicant"]["mobile"] = mobile
    data["applicant"]["address"]["region"] = region
    assert intake.parse(data).applicant.mobile == e164


def test_mobile_without_country_code_and_no_region_to_read_it_in(intake: Intake) -> None:
    data = example("northbound-vehicle-hk")
    data["applicant"].update(idType="PASSPORT", idNumber="E12345678", idIssuingCountry="GBR")
    data["applicant"]["address"]["region"] = "OTHER"
    data["applicant"]["mobile"] = "91234567"
    data["applicant"]["birthDate"] = "1990-01-01"
    assert "applicant.mobile" in problems(intake, data)


def test_passport_needs_issuing_country(intake: Intake) -> None:
    data = example("northbound-vehicle-hk")
    data["applicant"].update(idType="PASSPORT", idNumber="E12345678")
    assert "applicant.idIssuingCountry" in problems(intake, data)


def test_prc_id_birth_date_must_match(intake: Intake) -> None:
    data = example("driving-licence-exchange-hk")
    data["applicant"]["birthDate"] = "1993-04-19"
    assert "birth date" in problems(intake, data)["applicant.birthDate"]


INVISIBLE_OR_NONCHARACTERS = [
    "陈\u202e伟强",  # right-to-left override (Trojan source)
    "陈\u2066伟强\u2069",  # isolates
    "陈\u200b伟强",  # zero-width space: looks like 陈伟强, is another name
    "陈\u200d伟强",
    "\ufeff陈伟强",
    "丰\uffff田",  # not an XML character: the agency document could not be written
    "丰\ufffe田",
    "丰\ufdd0田",
    "丰\U0010ffff田",
]


@pytest.mark.parametrize("bad", INVISIBLE_OR_NONCHARACTERS, ids=ascii)
@pytest.mark.parametrize("as_bytes", [False, True], ids=["object", "utf-8"])
def test_invisible_reordering_and_noncharacters_rejected_with_path(
    intake: Intake, bad: str, as_bytes: bool
) -> None:
    data = example("northbound-vehicle-hk")
    data["applicant"]["name"] = bad
    data["form"]["vehicleBrand"] = bad
    body = json.dumps(data, ensure_ascii=False).encode("utf-8") if as_bytes else data
    with pytest.raises(ApplicationRejected) as exc:
        intake.parse(body)
    found = {p.path: p.message for p in exc.value.problems}
    assert {"applicant.name", "form.vehicleBrand"} <= set(found), found
    assert all(bad not in message for message in found.values())


@pytest.mark.parametrize("bad", ["a\x00b", "车\x07", "x\x7f", "\u0085"])
def test_control_characters_rejected_with_path(intake: Intake, bad: str) -> None:
    data = example("northbound-vehicle-hk")
    data["form"]["vehicleBrand"] = bad
    data["applicant"]["address"]["lines"][0] = "广州" + bad
    found = problems(intake, data)
    assert "form.vehicleBrand" in found and "applicant.address.lines[0]" in found


def test_submitted_at_needs_an_offset(intake: Intake) -> None:
    data = example("northbound-vehicle-hk")
    data["submittedAt"] = "2025-03-12T10:30:00"
    assert "submittedAt" in problems(intake, data)


def test_unknown_wire_field_is_named(intake: Intake) -> None:
    data = example("northbound-vehicle-hk")
    data["applicant"]["nameTraditonal"] = "劉"
    assert "applicant.nameTraditonal" in problems(intake, data)


def test_commitment_refused_for_item_that_does_not_allow_it(intake: Intake, tmp_path) -> None:
    from gateway.catalogue.loader import bundled_items_dir

    record = json.loads(
        (bundled_items_dir() / "investor-company-registration.json").read_text("utf-8")
    )
    record["commitmentAllowed"] = False
    (tmp_path / "i.json").write_text(json.dumps(record), "utf-8")
    found = problems(Intake(Catalogue.load(tmp_path)), example("investor-company-registration-mo"))
    assert "告知承諾" in found["commitment"]


def test_post_delivery_needs_an_address(intake: Intake) -> None:
    data = example("investor-company-registration-hk")
    del data["delivery"]["address"]
    assert "delivery.address" in problems(intake, data)


def test_not_json(intake: Intake) -> None:
    with pytest.raises(ApplicationRejected) as exc:
        intake.parse(b"{not json")
    assert "JSON" in exc.value.problems[0].message


# --- the JSON text, the clock, strict types, problems that do not hide one another -------------


def test_duplicate_key_refused_with_its_path(intake: Intake) -> None:
    text = json.dumps(example("northbound-vehicle-hk"), ensure_ascii=False)
    text = text.replace('"idNumber": ', '"idNumber": "X000000(0)", "idNumber": ', 1)
    with pytest.raises(ApplicationRejected) as exc:
        intake.parse(text.encode())
    assert [str(p) for p in exc.value.problems] == ["applicant.idNumber: duplicate key"]


def test_byte_order_mark_refused(intake: Intake) -> None:
    data = b"\xef\xbb\xbf" + json.dumps(example("northbound-vehicle-hk")).encode()
    assert "byte-order mark" in problems_of_bytes(intake, data)[""]


def test_deep_document_refused_without_recursion_error(intake: Intake) -> None:
    assert "nested deeper than" in problems_of_bytes(intake, b"[" * 10_000 + b"]" * 10_000)[""]


def problems_of_bytes(intake: Intake, data: bytes) -> dict[str, str]:
    with pytest.raises(ApplicationRejected) as exc:
        intake.parse(data)
    return {p.path: p.message for p in exc.value.problems}


def test_birth_date_in_the_future_by_the_injected_clock() -> None:
    data = example("northbound-vehicle-hk")
    born = dt.date.fromisoformat(data["applicant"]["birthDate"])
    # 23:30 UTC the day before is already the birth day in Guangdong (UTC+8)
    eve = dt.datetime.combine(born, dt.time(23, 30), dt.UTC) - dt.timedelta(days=1)
    day_before = FixedClock(eve - dt.timedelta(hours=8))
    assert (
        "future"
        in problems(Intake(Catalogue.load(), clock=day_before), data)["applicant.birthDate"]
    )
    assert Intake(Catalogue.load(), clock=FixedClock(eve)).parse(data).applicant.birth_date == born


def test_prc_id_birth_date_checked_against_the_injected_clock() -> None:
    data = example("driving-licence-exchange-hk")  # PRC_ID 440106199304182621
    clock = FixedClock(dt.datetime(1993, 4, 17, 12, tzinfo=dt.UTC))
    found = problems(Intake(Catalogue.load(), clock=clock), data)
    assert "out of range" in found["applicant.idNumber"]


@pytest.mark.parametrize(
    ("path", "value"),
    [
        (("itemVersion",), "1"),
        (("consents", 0, "biometric"), "false"),
        (("applicant", "birthDate"), 19930418),  # not a Unix timestamp either
        (("submittedAt",), 1741746600),
        (("materials", 0, "size"), "944472"),
    ],
)
def test_values_only_in_their_json_type(intake: Intake, path: tuple, value: object) -> None:
    data = example("northbound-vehicle-hk")
    node = data
    for part in path[:-1]:
        node = node[part]
    node[path[-1]] = value
    expected = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in path).lstrip(".")
    assert expected in problems(intake, data)


def test_unknown_field_in_a_nested_address_is_named(intake: Intake) -> None:
    data = example("investor-company-registration-hk")
    data["delivery"]["address"]["postcode"] = "000000"
    assert "delivery.address.postcode" in problems(intake, data)


def test_shape_error_does_not_hide_item_rules(intake: Intake) -> None:
    data = example("northbound-vehicle-hk")
    data["applicant"]["email"] = "not-an-address"
    data["applicant"]["idType"] = "HK_ID"
    data["applicant"]["idNumber"] = "A123456(0)"
    del data["form"]["vin"]
    data["channel"] = "KIOSK"
    data["consents"] = [c for c in data["consents"] if c["purpose"] != "CROSS_BORDER_TRANSFER"]
    found = problems(intake, data)
    assert {
        "applicant.email",
        "applicant.idNumber",
        "form.vin",
        "channel",
        "consents",
    } <= set(found)


def test_identity_and_mobile_come_out_normalised(intake: Intake) -> None:
    data = example("investor-company-registration-hk")
    data["applicant"]["idNumber"] = "p 902741 a"
    data["applicant"]["mobile"] = "+852 9123-4567"
    applicant = intake.parse(data).applicant
    assert (applicant.identity.number, applicant.mobile) == ("P902741(A)", "+85291234567")


def test_python_field_names_are_not_wire_names(intake: Intake) -> None:
    data = example("northbound-vehicle-hk")
    data["applicant"]["id_number"] = data["applicant"].pop("idNumber")
    found = problems(intake, data)
    assert "applicant.id_number" in found and "applicant.idNumber" in found


@pytest.mark.parametrize(
    "submitted_at",
    ["2010-03-10T09:15:27+08:00", "2100-01-01T00:00:00+08:00", "0001-01-01T00:00:00+14:00"],
)
def test_submitted_at_outside_the_calendars_is_refused_not_a_crash_later(
    intake: Intake, submitted_at: str
) -> None:
    # time limits count working days from it; outside the calendars rendering failed with
    # CalendarError (or OverflowError) after validate had called the application valid
    data = example("northbound-vehicle-hk")
    data["submittedAt"] = submitted_at
    assert "2020–2099" in problems(intake, data)["submittedAt"]


@pytest.mark.parametrize("seats", [-5, 10**400, 2**53])
def test_form_numbers_are_counts_within_what_json_readers_keep(intake: Intake, seats: int) -> None:
    data = example("northbound-vehicle-hk")
    data["form"]["seatCount"] = seats
    assert "from 0 to 9007199254740991" in problems(intake, data)["form.seatCount"]


def test_a_material_size_is_bounded_like_every_whole_number(intake: Intake) -> None:
    data = example("northbound-vehicle-hk")
    data["materials"][0]["size"] = 10**40
    assert "materials[0].size" in problems(intake, data)
    data["materials"][0]["size"] = 2**53 - 1
    intake.parse(data)
