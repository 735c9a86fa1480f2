"""What filing records of a case's texts: only open disagreements, never personal text."""

from __future__ import annotations

import pytest

from gateway.domain import TextPair
from gateway.text.convert import convert_decided
from gateway.text.review import Found, is_personal, open_disagreements


@pytest.mark.parametrize(
    ("path", "personal"),
    [
        ("applicant.address.lines[0]", True),
        ("delivery.address.lines[1]", True),
        ("form.registeredAddress", True),
        ("form.legalRepresentative", True),
        ("form.contactPhone", True),
        ("form.investorName", True),
        ("form.idNumber", True),
        ("form.businessScope", False),
        ("form.proposedCompanyName", True),
        ("commitment.text", False),
        ("form.purpose", False),
    ],
)
def test_personal_paths(path, personal):
    assert is_personal(path) is personal


def pairs(region: str, texts: dict[str, str]) -> list[TextPair]:
    done = convert_decided(list(texts.values()), region)  # type: ignore[arg-type]
    return [
        TextPair(path=p, original=o, converted=c.text, decided_by=c.decided_by)
        for (p, o), c in zip(texts.items(), done, strict=True)
    ]


@pytest.mark.parametrize("region", ["HK", "MO"])
def test_open_disagreements_keep_paths_and_characters_not_personal_text(region):
    texts = {
        "form.businessScope": "经营银行发卡业务及咨询",
        "applicant.address.lines[0]": "深圳市南山区朴园路18号",
        "commitment.text": "本人承诺所填信息真实有效",
    }
    found = open_disagreements(pairs(region, texts), region)  # type: ignore[arg-type]
    assert found == [
        Found("form.businessScope", 4, "发", "發", "髮", "经营银行发卡业务及"),
        Found("applicant.address.lines[0]", 6, "朴", "朴", "樸", None),
    ]


def test_no_open_disagreement_means_no_conversion(monkeypatch):
    agreed = pairs("HK", {"form.businessScope": "供应链管理服务"})
    monkeypatch.setattr("gateway.text.review.convert_decided", lambda *a: pytest.fail("ran"))
    assert open_disagreements(agreed, "HK") == []
    names = [TextPair(path="applicant.name", original="朴园", converted=None, decided_by=None)]
    assert open_disagreements(names, "HK") == []
