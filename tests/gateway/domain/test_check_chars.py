"""The check-character sums kept in C agree with the plain per-digit definition."""

from __future__ import annotations

import random

import pytest

from gateway.domain.identity import hkid_check_char, prc_check_char

_PRC_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)


def _prc(first17: str) -> str:
    total = sum(int(d) * w for d, w in zip(first17, _PRC_WEIGHTS, strict=True))
    return "10X98765432"[total % 11]


def _hkid(prefix: str, digits: str) -> str:
    values = [36] * (2 - len(prefix)) + [ord(c) - ord("A") + 10 for c in prefix]
    values += [int(d) for d in digits]
    total = sum(v * w for v, w in zip(values, range(9, 1, -1), strict=True))
    check = (11 - total % 11) % 11
    return "A" if check == 10 else str(check)


def test_same_check_characters_as_the_definition() -> None:
    rng = random.Random(11643)
    for _ in range(5000):
        body = "".join(rng.choice("0123456789") for _ in range(17))
        assert prc_check_char(body) == _prc(body)
        prefix = "".join(
            rng.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZ") for _ in range(rng.choice((1, 2)))
        )
        digits = "".join(rng.choice("0123456789") for _ in range(6))
        assert hkid_check_char(prefix, digits) == _hkid(prefix, digits)
    assert prc_check_char("٣" * 17) == _prc("٣" * 17)  # other decimal digits: as int() reads them


@pytest.mark.parametrize("bad", ["1234", "1" * 18, "1234567890123456X", ""])
def test_same_refusal_as_the_definition(bad: str) -> None:
    with pytest.raises(ValueError) as ours:
        prc_check_char(bad)
    with pytest.raises(ValueError) as plain:
        _prc(bad)
    assert str(ours.value) == str(plain.value)
