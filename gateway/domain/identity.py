"""Identity-document numbers and mobile numbers, as applicants type them, in canonical form.

Guangdong passes numbers on as typed: ``A123456(7)``, ``a1234567``, ``A 123456 7``, full-width
``Ａ１２３４５６（７）``, dashes, slashes. Agencies match on the canonical printed form, so every
number is normalised once here and its check character verified; nothing downstream re-parses.
Error messages never repeat the number itself: they end up in logs.
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from itertools import starmap
from operator import mul
from typing import Literal

from gateway.clock import GBA_TZ, SystemClock

IdType = Literal["PRC_ID", "HK_ID", "MO_ID", "HKMO_PERMIT", "PASSPORT"]
PhoneRegion = Literal["HK", "MO", "CN"]
AddressRegion = Literal["HK", "MO", "CN-GD", "OTHER"]


class IdentityError(ValueError):
    """An identity-document number (or issuing country) that cannot be accepted."""


class PhoneError(ValueError):
    """A mobile number that cannot be read as a Hong Kong, Macao or mainland number."""


def _nfkc(raw: str) -> str:
    """Full-width digits and letters as typed on CJK keyboards, folded to ASCII (NFKC).

    ASCII is its own NFKC form; skipping the Unicode tables for it keeps intake cache-friendly.
    """
    return raw if raw.isascii() else unicodedata.normalize("NFKC", raw)


# Compiled once: re.fullmatch(str, …) looks its pattern up in re's cache on every call.
_ALNUM = re.compile(r"[A-Z0-9]+")
_PRC_FORM = re.compile(r"[0-9]{17}[0-9X]")
_HKID_FORM = re.compile(r"([A-Z]{1,2})([0-9]{6})([0-9A])")
_MOID_FORM = re.compile(r"[157][0-9]{7}")
_PERMIT_FORM = re.compile(r"[HM]([0-9]{8}|[0-9]{10})")
_SPACE = re.compile(r"\s")
_PASSPORT_FORM = re.compile(r"[A-Z0-9]{5,20}")
_ALPHA3 = re.compile(r"[A-Z]{3}")
_PHONE_SEPARATORS = re.compile(r"[\s\-\u2010-\u2015\u2212.()]")
_PHONE_FORM = re.compile(r"\+?[0-9]+")

# Separators people print inside numbers; NFKC already folded full-width forms to ASCII.
_SEPARATORS = re.compile(r"[\s\-\u2010-\u2015\u2212./()\[\]]")


def _normalise(raw: str, what: str) -> str:
    if not isinstance(raw, str):
        raise IdentityError(f"{what} number must be text")
    s = _SEPARATORS.sub("", _nfkc(raw)).upper()
    if not s:
        raise IdentityError(f"{what} number is empty")
    if not _ALNUM.fullmatch(s):
        raise IdentityError(f"{what} number may contain only letters, digits and separators")
    return s


# --- PRC resident identity card (GB 11643-1999) and HK/Macao/Taiwan residence permits -------

_PRC_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_PRC_CHECK = "10X98765432"
_PRC_ZEROS = ord("0") * sum(_PRC_WEIGHTS)
# Province-level codes of GB/T 2260; 81/82/83 only as the residence-permit prefixes.
_PRC_PROVINCES = frozenset(
    "11 12 13 14 15 21 22 23 31 32 33 34 35 36 37 41 42 43 44 45 46 50 51 52 53 54 "
    "61 62 63 64 65".split()
)
_PERMIT_PREFIXES = ("810000", "820000", "830000")  # HK, Macao, Taiwan residents


def prc_check_char(first17: str) -> str:
    """GB 11643 ISO 7064 MOD 11-2 check character for the first 17 digits."""
    # The loop stays in C (a generator expression cost ~3x as much, cachegrind); 17 ASCII
    # digits are summed as their bytes, less what "0" (48) adds at every weight.
    if len(first17) == 17 and first17.isascii() and first17.isdigit():
        total = sum(map(mul, first17.encode(), _PRC_WEIGHTS)) - _PRC_ZEROS
    else:  # anything else is read, or refused, as int() and zip(strict=True) do
        total = sum(starmap(mul, zip(map(int, first17), _PRC_WEIGHTS, strict=True)))
    return _PRC_CHECK[total % 11]


def _canonical_prc(raw: str, today: dt.date) -> str:
    s = _normalise(raw, "PRC_ID")
    if len(s) == 15 and s.isdigit():
        raise IdentityError(
            "PRC_ID: 15-digit first-generation ID numbers are not accepted; "
            "give the 18-character number"
        )
    if not _PRC_FORM.fullmatch(s):
        raise IdentityError("PRC_ID must be 17 digits followed by a digit or X (18 characters)")
    if s[:2] not in _PRC_PROVINCES and not s.startswith(_PERMIT_PREFIXES):
        raise IdentityError(f"PRC_ID: region code {s[:6]} is not a valid province-level code")
    try:
        born = dt.date(int(s[6:10]), int(s[10:12]), int(s[12:14]))
    except ValueError:
        raise IdentityError("PRC_ID: the embedded birth date is not a real date") from None
    if born.year < 1900 or born > today:
        raise IdentityError("PRC_ID: the embedded birth date is out of range")
    expected = prc_check_char(s[:17])
    if s[17] != expected:
        raise IdentityError(
            f"PRC_ID: check character does not match (expected {expected}, got {s[17]})"
        )
    return s


def is_residence_permit(prc_id_canonical: str) -> bool:
    """True for residence permits of HK (810000), Macao (820000) and Taiwan (830000) residents."""
    return prc_id_canonical.startswith(_PERMIT_PREFIXES)


# --- Hong Kong identity card ------------------------------------------------------------------


def hkid_check_char(prefix: str, digits: str) -> str:
    """HKID mod-11 check character; a one-letter prefix is padded with a space worth 36."""
    values = [36] * (2 - len(prefix)) + [ord(c) - ord("A") + 10 for c in prefix]
    values += map(int, digits)
    total = sum(starmap(mul, zip(values, range(9, 1, -1), strict=True)))
    check = (11 - total % 11) % 11
    return "A" if check == 10 else str(check)


def _canonical_hkid(raw: str) -> str:
    s = _normalise(raw, "HK_ID")
    m = _HKID_FORM.fullmatch(s)
    if m is None:
        raise IdentityError(
            "HK_ID must be 1 or 2 letters, 6 digits and a check digit 0-9 or A, e.g. A123456(7)"
        )
    prefix, digits, check = m.groups()
    expected = hkid_check_char(prefix, digits)
    if check != expected:
        raise IdentityError(f"HK_ID: check digit does not match (expected {expected}, got {check})")
    return f"{prefix}{digits}({check})"


# --- Macao resident identity card, Home Return Permit, passports ------------------------------


def _canonical_moid(raw: str) -> str:
    s = _normalise(raw, "MO_ID")
    if not _MOID_FORM.fullmatch(s):
        raise IdentityError("MO_ID must be 8 digits starting 1, 5 or 7, e.g. 1234567(8)")
    return f"{s[:7]}({s[7]})"


def _canonical_permit(raw: str) -> str:
    s = _normalise(raw, "HKMO_PERMIT")
    if not _PERMIT_FORM.fullmatch(s):
        raise IdentityError("HKMO_PERMIT must be H or M followed by 8 digits (older: 10 digits)")
    return s


def _canonical_passport(raw: str) -> str:
    if not isinstance(raw, str):
        raise IdentityError("PASSPORT number must be text")
    s = _SPACE.sub("", _nfkc(raw)).upper()
    if not _PASSPORT_FORM.fullmatch(s):
        raise IdentityError("PASSPORT number must be 5 to 20 letters and digits")
    return s


# PRC_ID is not here: only its check needs to know what day it is.
_CANONICAL = {
    "HK_ID": _canonical_hkid,
    "MO_ID": _canonical_moid,
    "HKMO_PERMIT": _canonical_permit,
    "PASSPORT": _canonical_passport,
}


def canonical_id(id_type: IdType, raw: str, *, today: dt.date | None = None) -> str:
    """The canonical printed form of an ID number, check character verified.

    ``PRC_ID`` 18 characters (X upper-case); ``HK_ID`` ``A123456(7)`` / ``AB123456(7)``;
    ``MO_ID`` ``1234567(8)``; ``HKMO_PERMIT`` ``H12345678``; ``PASSPORT`` upper-case, no spaces.
    ``today`` (default: the system clock, in UTC+8) bounds the birth date a PRC_ID embeds.
    """
    if id_type == "PRC_ID":
        return _canonical_prc(raw, today if today is not None else SystemClock().today(GBA_TZ))
    try:
        parse = _CANONICAL[id_type]
    except (KeyError, TypeError):
        raise IdentityError(f"unknown id type {id_type!r}") from None
    return parse(raw)


def issuing_country(
    id_type: IdType, residence_permit: bool = False, passport_country: str | None = None
) -> str:
    """ISO 3166 alpha-3 issuer: residence permits are issued by the mainland too (CHN)."""
    if id_type == "HK_ID":
        return "HKG"
    if id_type == "MO_ID":
        return "MAC"
    if id_type in ("PRC_ID", "HKMO_PERMIT"):
        return "CHN"
    if id_type == "PASSPORT":
        if passport_country is None or not _ALPHA3.fullmatch(passport_country):
            raise IdentityError(
                "PASSPORT needs idIssuingCountry as an ISO 3166 alpha-3 code (3 upper-case letters)"
            )
        return passport_country
    raise IdentityError(f"unknown id type {id_type!r}")


# --- mobile numbers ---------------------------------------------------------------------------

_COUNTRY_CODES: dict[PhoneRegion, str] = {"HK": "852", "MO": "853", "CN": "86"}
_NATIONAL = {
    "HK": re.compile(r"[2-9][0-9]{7}"),  # mobiles 4-9, landlines 2-3
    "MO": re.compile(r"6[0-9]{7}|28[0-9]{6}"),  # mobiles 6, landlines 28
    "CN": re.compile(r"1[3-9][0-9]{9}"),  # mainland mobiles
}
_DESCRIBED = {
    "HK": "a Hong Kong number is 8 digits starting 2-9",
    "MO": "a Macao number is 8 digits starting 6 or 28",
    "CN": "a mainland mobile number is 11 digits starting 13-19",
}


def _national(region: PhoneRegion, number: str) -> str | None:
    return number if _NATIONAL[region].fullmatch(number) else None


def _split_country_code(digits: str) -> tuple[PhoneRegion, str] | None:
    for region, cc in _COUNTRY_CODES.items():
        if digits.startswith(cc) and _national(region, digits[len(cc) :]):
            return region, digits[len(cc) :]
    return None


def normalise_phone(raw: str, default_region: PhoneRegion | None) -> str:
    """E.164 form of a Hong Kong, Macao or mainland mobile number as typed.

    A leading ``+`` or ``00`` introduces a country code (852, 853, 86). A number without one is
    read in ``default_region``; failing that, digits that start with a country code are read as
    such only when the rest has exactly the length and prefix of that region's numbers.
    """
    if not isinstance(raw, str):
        raise PhoneError("mobile number must be text")
    s = _PHONE_SEPARATORS.sub("", _nfkc(raw))
    if not _PHONE_FORM.fullmatch(s):
        raise PhoneError("mobile number may contain only digits, +, spaces, dashes, dots, ()")
    international = s.startswith(("+", "00"))
    digits = s[1:] if s.startswith("+") else s[2:] if s.startswith("00") else s
    if international:
        found = _split_country_code(digits)
        if found is None:
            known = next((r for r, cc in _COUNTRY_CODES.items() if digits.startswith(cc)), None)
            if known is None:
                raise PhoneError("only +852 (HK), +853 (MO) and +86 (mainland) are accepted")
            raise PhoneError(f"after +{_COUNTRY_CODES[known]}: {_DESCRIBED[known]}")
        region, national = found
        return f"+{_COUNTRY_CODES[region]}{national}"
    if default_region is not None:
        if default_region not in _NATIONAL:
            raise PhoneError(f"unknown phone region {default_region!r}")
        if _national(default_region, digits):
            return f"+{_COUNTRY_CODES[default_region]}{digits}"
    found = _split_country_code(digits)
    if found is not None:
        region, national = found
        return f"+{_COUNTRY_CODES[region]}{national}"
    if default_region is None:
        raise PhoneError(
            "cannot tell the region of mobile number without country code (give +852, +853 or +86)"
        )
    raise PhoneError(f"not a valid number: {_DESCRIBED[default_region]}")


def phone_region_for(address_region: AddressRegion | None, id_type: IdType) -> PhoneRegion | None:
    """The region a mobile without country code is read in (gd-intake §2).

    The address decides first (``OTHER`` does not); then the ID: ``HK_ID`` → HK, ``MO_ID`` → MO,
    ``PRC_ID`` → mainland (residence permits included, as the spec says); otherwise None.
    """
    by_address: dict[str, PhoneRegion] = {"HK": "HK", "MO": "MO", "CN-GD": "CN"}
    if address_region in by_address:
        return by_address[address_region]
    by_id: dict[str, PhoneRegion] = {"HK_ID": "HK", "MO_ID": "MO", "PRC_ID": "CN"}
    return by_id.get(id_type)
