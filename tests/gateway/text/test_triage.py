"""Triaged one-to-many characters (干/幹/乾, 游/遊, 冲/沖/衝, 征/徵, 斗/鬥 and the corpus's other
large groups): pair defaults in accepted-*.tsv, word exceptions in phrases-*.tsv. Examples are
our own, for both regions; names in form fields are never "corrected"."""

from __future__ import annotations

import opencc
import pytest
import zhconv_rs

from gateway.text import convert as text
from gateway.text.convert import convert_decided, convert_name, to_traditional

REGIONS = ["HK", "MO"]


@pytest.mark.parametrize("region", REGIONS)
@pytest.mark.parametrize(
    ("simplified", "expected", "rule"),
    [
        # 干: dry food and drying are 乾, cadres and doing are 幹, interference and names stay 干
        ("进口地瓜干和椰干", "進口地瓜乾和椰乾", "phrase"),
        ("检察干部培训", "檢察幹部培訓", "phrase"),
        ("实行以工代干", "實行以工代幹", "phrase"),
        ("防止交流干扰", "防止交流干擾", "phrase"),
        ("途经库尔干", "途經庫爾干", "phrase"),
        ("推行包干制度", "推行包乾制度", "phrase"),
        # 游: tourism is 遊, swimming and the surname before a title stay 游
        ("承办港澳游及境外游", "承辦港澳遊及境外遊", "accepted"),
        ("联系游先生", "聯繫游先生", "phrase"),
        ("散兵游勇", "散兵游勇", "phrase"),
        # 冲: rinsing and offsetting are 沖, rushing is 衝
        ("办理冲账手续", "辦理沖賬手續", "accepted"),
        ("车辆侧冲", "車輛側沖", "accepted"),
        ("冲关夺隘", "衝關奪隘", "phrase"),
        ("乱冲马路", "亂衝馬路", "phrase"),
        # 征: levying is 徵, campaigns stay 征
        ("依法补征税款", "依法補徵稅款", "engines"),
        ("起征点调整", "起徵點調整", "accepted"),
        ("五千里长征", "五千里長征", "phrase"),
        # 斗: measures and implements stay 斗, fighting is 鬥
        ("三斗米", "三斗米", "accepted"),
        ("勇斗歹徒", "勇鬥歹徒", "phrase"),
        ("开展重大斗争", "開展重大鬥爭", "phrase"),
        # the corpus's other large groups
        ("合伙人协议", "合夥人協議", "accepted"),
        ("二氧化硅", "二氧化矽", "accepted"),
        ("多维系统", "多維系統", "phrase"),
        ("标价签", "標價籤", "phrase"),
    ],
)
def test_triaged_characters(simplified, expected, rule, region):
    (c,) = convert_decided([simplified], region)
    assert c.text == expected
    assert rule in c.decided_by.split("+") and text.PRIMARY not in c.decided_by
    assert c.open == ()


@pytest.mark.parametrize("region", REGIONS)
def test_a_listed_word_never_changes_text_the_engines_agree_on(region):
    # 大干 is a 幹 phrase; in 加大干预 the engines agree on 干預, so the phrase is not consulted
    assert to_traditional("加大干预力度", region) == "加大干預力度"
    assert to_traditional("能干扰信号", region) == "能干擾信號"


@pytest.mark.parametrize("region", REGIONS)
@pytest.mark.parametrize("name", ["游嘉欣", "冲田杏", "干志明", "斗文", "征宇"])
def test_names_in_form_fields_are_never_corrected(name, region):
    # character by character through the name rules: no phrase or pair default applies
    converted = convert_name(name, None, region)
    assert converted is None or converted[0] == name[0]


def test_every_phrase_is_its_simplified_word_in_traditional():
    back = opencc.OpenCC("hk2s", include_tofu_risk_dictionaries=False)
    wrong = []
    for name in ("phrases-common.tsv", "phrases-hk.tsv", "phrases-mo.tsv"):
        path = text.DATA_DIR / name
        if not path.exists():
            continue
        for line in path.read_text(encoding="utf-8").splitlines():
            if not line or line.startswith("#"):
                continue
            s, t, reason = line.split("\t")
            if not reason.strip() or (
                back.convert(t) != s and zhconv_rs.zhconv(t, "zh-cn") != s and s != t
            ):
                wrong.append(line)
    assert wrong == []


def test_a_malformed_phrase_line_names_its_file_and_line(tmp_path, monkeypatch):
    (tmp_path / "phrases-common.tsv").write_text("干部\t幹\treason\n", encoding="utf-8")
    monkeypatch.setattr("gateway.text.tables.DATA_DIR", tmp_path)
    text.phrases.cache_clear()
    try:
        with pytest.raises(ValueError, match=r"phrases-common.tsv:1: forms must be as long"):
            text.phrases("HK")
    finally:
        text.phrases.cache_clear()
