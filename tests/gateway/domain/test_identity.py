"""gateway.domain.identity: ID numbers in any printed form, check characters, mobile numbers."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.domain.identity import (
    IdentityError,
    PhoneError,
    canonical_id,
    hkid_check_char,
    is_residence_permit,
    issuing_country,
    normalise_phone,
    phone_region_for,
    prc_check_char,
)

EXAMPLES = sorted((Path(__file__).parents[3] / "gateway/data/examples").glob("*.json"))

# --- PRC_ID -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "number",
    ["440106199304182621", "440305198007023149", "11010519491231002X"],
)
def test_prc_valid(number):
    assert canonical_id("PRC_ID", number) == number


@pytest.mark.parametrize(
    ("raw", "canonical"),
    [
        ("11010519491231002x", "11010519491231002X"),  # lower-case x
        ("440106 19930418 2621", "440106199304182621"),
        ("440106-19930418-2621", "440106199304182621"),
        ("４４０１０６１９９３０４１８２６２１", "440106199304182621"),  # full-width digits
        ("11010519491231002ｘ", "11010519491231002X"),
        (" 440305198007023149\n", "440305198007023149"),
    ],
)
def test_prc_printed_forms(raw, canonical):
    assert canonical_id("PRC_ID", raw) == canonical


@pytest.mark.parametrize("wrong", "023456789X")  # 1 is right for 440106199304182621
def test_prc_wrong_check_character(wrong):
    with pytest.raises(IdentityError, match=r"PRC_ID: check character does not match \(expected 1"):
        canonical_id("PRC_ID", "44010619930418262" + wrong)


def test_prc_check_char_standard_example():
    assert prc_check_char("11010519491231002") == "X"  # GB 11643-1999 example


def test_prc_fifteen_digits_rejected():
    with pytest.raises(IdentityError, match="15-digit"):
        canonical_id("PRC_ID", "440106930418262")


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("44010619930230262", "not a real date"),  # 30 February
        ("44010619931318262", "not a real date"),  # month 13
        ("44010618500101262", "out of range"),
        ("44010629990101262", "out of range"),  # born in the future
        ("99010619930418262", "region code"),
        ("71010619930418262", "region code"),
        ("81010619930418262", "region code"),  # 81 only as the 810000 permit prefix
    ],
)
def test_prc_invalid_content(body, message):
    number = body + prc_check_char(body)  # a correct check character: the content is what fails
    with pytest.raises(IdentityError, match=message):
        canonical_id("PRC_ID", number)


def test_prc_birth_date_bounded_by_the_given_day():
    number = "440106199304182621"  # born 1993-04-18
    assert canonical_id("PRC_ID", number, today=dt.date(1993, 4, 18)) == number
    with pytest.raises(IdentityError, match="out of range"):
        canonical_id("PRC_ID", number, today=dt.date(1993, 4, 17))


@pytest.mark.parametrize("raw", ["4401061993041826", "4401061993041826211", "44010619930418262Y"])
def test_prc_bad_shape(raw):
    with pytest.raises(IdentityError, match="18 characters"):
        canonical_id("PRC_ID", raw)


@pytest.mark.parametrize("prefix", ["810000", "820000", "830000"])
def test_residence_permits(prefix):
    body = prefix + "19900101123"
    number = canonical_id("PRC_ID", body + prc_check_char(body))
    assert is_residence_permit(number)
    wrong = "0" if number[-1] != "0" else "1"
    with pytest.raises(IdentityError, match="check character"):
        canonical_id("PRC_ID", number[:-1] + wrong)


def test_mainland_id_is_not_a_residence_permit():
    assert not is_residence_permit("440106199304182621")


# --- HK_ID ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "canonical"),
    [
        ("P902741(A)", "P902741(A)"),
        ("p902741a", "P902741(A)"),
        ("P 902741 A", "P902741(A)"),
        ("P902741（A）", "P902741(A)"),
        ("Ｐ９０２７４１（Ａ）", "P902741(A)"),
        ("A123456(3)", "A123456(3)"),
        ("a1234563", "A123456(3)"),
        ("A 123456 3", "A123456(3)"),
        ("A-123456-3", "A123456(3)"),
        ("A123456（3）", "A123456(3)"),
        ("G123456(A)", "G123456(A)"),
        ("K628913(4)", "K628913(4)"),
        ("AB987654(3)", "AB987654(3)"),
        ("ab 987654 3", "AB987654(3)"),
        ("XA000000(8)", "XA000000(8)"),
    ],
)
def test_hkid_printed_forms(raw, canonical):
    assert canonical_id("HK_ID", raw) == canonical


@pytest.mark.parametrize(
    ("prefix", "digits", "check"),
    [("A", "123456", "3"), ("G", "123456", "A"), ("P", "902741", "A"), ("AB", "987654", "3")],
)
def test_hkid_check_char(prefix, digits, check):
    assert hkid_check_char(prefix, digits) == check


@pytest.mark.parametrize("wrong", "012456789A")
def test_hkid_wrong_check_digit(wrong):
    with pytest.raises(IdentityError, match=r"HK_ID: check digit does not match \(expected 3"):
        canonical_id("HK_ID", f"A123456({wrong})")


def test_hkid_single_letter_is_padded_with_36_not_zero():
    # A123456: 9*36 + 8*10 + 7*1 + 6*2 + 5*3 + 4*4 + 3*5 + 2*6 = 481 = 43*11 + 8 -> 11-8 = 3.
    # Padding with 0 instead would give 157 % 11 = 3 -> check 8.
    assert hkid_check_char("A", "123456") == "3"
    with pytest.raises(IdentityError):
        canonical_id("HK_ID", "A123456(8)")


@pytest.mark.parametrize(
    "raw", ["123456(7)", "ABC123456(7)", "A12345(6)", "A1234567(8)", "A123456(B)"]
)
def test_hkid_bad_shape(raw):
    with pytest.raises(IdentityError, match="HK_ID must be 1 or 2 letters"):
        canonical_id("HK_ID", raw)


@given(st.sampled_from(["A", "Z", "AB", "XY"]), st.integers(0, 999999))
def test_hkid_generated_valid_numbers(prefix, n):
    digits = f"{n:06d}"
    check = hkid_check_char(prefix, digits)
    assert (
        canonical_id("HK_ID", f"{prefix.lower()} {digits} {check}") == f"{prefix}{digits}({check})"
    )
    others = [c for c in "0123456789A" if c != check]
    with pytest.raises(IdentityError):
        canonical_id("HK_ID", f"{prefix}{digits}({others[n % len(others)]})")


# --- MO_ID, HKMO_PERMIT, PASSPORT -------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "canonical"),
    [
        ("7093125(1)", "7093125(1)"),
        ("1326547(3)", "1326547(3)"),
        ("13265473", "1326547(3)"),
        ("1/326547/3", "1326547(3)"),
        ("1326547（3）", "1326547(3)"),
        ("１３２６５４７（３）", "1326547(3)"),
        ("5215299 8", "5215299(8)"),
    ],
)
def test_moid_printed_forms(raw, canonical):
    assert canonical_id("MO_ID", raw) == canonical


@pytest.mark.parametrize(
    "raw", ["2326547(3)", "9093125(1)", "132654(3)", "13265473(1)", "A326547(3)"]
)
def test_moid_bad_shape(raw):
    with pytest.raises(IdentityError, match="MO_ID must be 8 digits starting 1, 5 or 7"):
        canonical_id("MO_ID", raw)


@pytest.mark.parametrize(
    ("raw", "canonical"),
    [
        ("M20394857", "M20394857"),
        ("m2039 4857", "M20394857"),
        ("H-1234-5678", "H12345678"),
        ("Ｈ１２３４５６７８", "H12345678"),
        ("H1234567890", "H1234567890"),  # older 10-digit form
    ],
)
def test_home_return_permit(raw, canonical):
    assert canonical_id("HKMO_PERMIT", raw) == canonical


@pytest.mark.parametrize("raw", ["C12345678", "H1234567", "H123456789", "H12345678901", "12345678"])
def test_home_return_permit_bad(raw):
    with pytest.raises(IdentityError, match="HKMO_PERMIT must be H or M"):
        canonical_id("HKMO_PERMIT", raw)


@pytest.mark.parametrize(
    ("raw", "canonical"),
    [("e1234 5678", "E12345678"), ("K1234", "K1234"), ("Ａ１２３４５６７８", "A12345678")],
)
def test_passport(raw, canonical):
    assert canonical_id("PASSPORT", raw) == canonical


@pytest.mark.parametrize("raw", ["K123", "A" * 21, "E-12345678", "E1234567/8", ""])
def test_passport_bad(raw):
    with pytest.raises(IdentityError, match="PASSPORT number must be 5 to 20"):
        canonical_id("PASSPORT", raw)


def test_unknown_type_and_junk():
    with pytest.raises(IdentityError, match="unknown id type"):
        canonical_id("DRIVING_LICENCE", "123")  # type: ignore[arg-type]
    with pytest.raises(IdentityError, match="only letters, digits and separators"):
        canonical_id("HK_ID", "A123456#3")
    with pytest.raises(IdentityError, match="empty"):
        canonical_id("MO_ID", " ( ) ")


def test_error_messages_do_not_echo_the_number():
    with pytest.raises(IdentityError) as err:
        canonical_id("PRC_ID", "440106199304182620")
    assert "4401061993" not in str(err.value)


# --- issuing country --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("id_type", "permit", "country", "expected"),
    [
        ("HK_ID", False, None, "HKG"),
        ("MO_ID", False, None, "MAC"),
        ("PRC_ID", False, None, "CHN"),
        ("PRC_ID", True, None, "CHN"),
        ("HKMO_PERMIT", False, None, "CHN"),
        ("PASSPORT", False, "GBR", "GBR"),
        ("PASSPORT", False, "PRT", "PRT"),
    ],
)
def test_issuing_country(id_type, permit, country, expected):
    assert issuing_country(id_type, permit, country) == expected


@pytest.mark.parametrize("country", [None, "GB", "gbr", "GBRX", "G1R"])
def test_passport_country_must_be_alpha3(country):
    with pytest.raises(IdentityError, match="ISO 3166 alpha-3"):
        issuing_country("PASSPORT", False, country)


# --- phones -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "region", "e164"),
    [
        ("13926012345", "CN", "+8613926012345"),
        ("139 2601 2345", "CN", "+8613926012345"),
        ("139-2601-2345", "CN", "+8613926012345"),
        ("+86 139 2601 2345", None, "+8613926012345"),
        ("0086 13926012345", None, "+8613926012345"),
        ("86 139 2601 2345", None, "+8613926012345"),  # country code fits: 86 + 11 digits
        ("+852 6234 5678", None, "+85262345678"),
        ("+852 6234 5678", "CN", "+85262345678"),  # a country code beats the default region
        ("00852-9123-4567", None, "+85291234567"),
        ("(852) 9123 4567", None, "+85291234567"),
        ("852 9123 4567", "MO", "+85291234567"),
        ("9123.4567", "HK", "+85291234567"),
        ("2123 4567", "HK", "+85221234567"),  # landline
        ("4612 3456", "HK", "+85246123456"),
        ("6123 4567", "MO", "+85361234567"),
        ("2812 3456", "MO", "+85328123456"),  # landline
        ("+853 6288 7766", None, "+85362887766"),
        ("（＋８５３）６２８８　７７６６", None, "+85362887766"),  # full-width
        ("１３９２６０１２３４５", "CN", "+8613926012345"),
    ],
)
def test_phone_forms(raw, region, e164):
    assert normalise_phone(raw, region) == e164


@pytest.mark.parametrize(
    ("raw", "region", "message"),
    [
        ("13926012345", None, "cannot tell the region of mobile number without country code"),
        ("6123 4567", None, "cannot tell the region of mobile number without country code"),
        ("6123 4567", "CN", "a mainland mobile number is 11 digits starting 13-19"),
        ("1234 5678", "HK", "a Hong Kong number is 8 digits starting 2-9"),
        ("2912 3456", "MO", "a Macao number is 8 digits starting 6 or 28"),
        ("12345678901", "CN", "a mainland mobile number is 11 digits starting 13-19"),
        ("+852 1234 5678", None, "after \\+852: a Hong Kong number"),
        ("+853 9123 4567", "MO", "after \\+853: a Macao number"),
        ("+86 2012345678", None, "after \\+86: a mainland mobile"),
        ("+1 415 555 0100", None, "only \\+852 \\(HK\\), \\+853 \\(MO\\) and \\+86"),
        ("852 6234 567", None, "cannot tell the region"),  # 852 + 7 digits: not a country code
        ("+852 6234 5678 ext 2", "HK", "only digits"),
        ("852+62345678", "HK", "only digits"),
    ],
)
def test_phone_errors(raw, region, message):
    with pytest.raises(PhoneError, match=message):
        normalise_phone(raw, region)


@pytest.mark.parametrize(
    ("address", "id_type", "expected"),
    [
        ("HK", "PRC_ID", "HK"),
        ("MO", "HK_ID", "MO"),
        ("CN-GD", "MO_ID", "CN"),
        ("OTHER", "HK_ID", "HK"),
        ("OTHER", "MO_ID", "MO"),
        ("OTHER", "PRC_ID", "CN"),
        (None, "PRC_ID", "CN"),
        (None, "HKMO_PERMIT", None),
        ("OTHER", "PASSPORT", None),
    ],
)
def test_phone_region_for(address, id_type, expected):
    assert phone_region_for(address, id_type) == expected


# --- the bundled example applications ---------------------------------------------------------


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.stem)
def test_examples_parse(path):
    app = json.loads(path.read_text(encoding="utf-8"))
    people = [app["applicant"]] + ([app["agent"]] if app.get("agent") else [])
    for person in people:
        number = canonical_id(person["idType"], person["idNumber"])
        issuing_country(person["idType"], False, person.get("idIssuingCountry"))
        assert canonical_id(person["idType"], number) == number  # canonical is a fixed point
    applicant = app["applicant"]
    region = phone_region_for((applicant.get("address") or {}).get("region"), applicant["idType"])
    assert normalise_phone(applicant["mobile"], region).startswith(("+852", "+853", "+86"))
    dt.date.fromisoformat(applicant["birthDate"])
