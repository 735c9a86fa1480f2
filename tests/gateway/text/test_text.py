"""gateway.text.convert: Simplified ↔ Traditional for HK and Macao, names, protected spans."""

from __future__ import annotations

import functools
import re

import opencc
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.text import convert as text
from gateway.text.convert import (
    TextRejected,
    ambiguous_name_chars,
    check_text,
    convert_name,
    to_simplified,
    to_simplified_many,
    to_traditional,
    to_traditional_many,
)

REGIONS = ["HK", "MO"]

PROSE = """\
为深入推进粤港澳大湾区政务服务跨境通办，广东省政务服务和数据管理局会同有关部门编制本办事指南。\
申请人可以通过广东政务服务网、粤省事移动端、自助服务终端或者各级政务服务中心窗口提交申请，也可以委托代理人办理。
对实行告知承诺制的事项，申请人书面承诺已经符合告知的条件、标准和要求，并愿意承担不实承诺的法律责任的，\
行政机关不再索要有关证明材料，依据书面承诺直接作出审批决定。行政机关应当在作出决定后三十日内对申请人的承诺内容\
开展核查，发现承诺不实的，依法撤销行政许可决定，并将失信情况记入信用档案。
对基本条件具备、主要申请材料齐全且符合法定形式，但次要条件或者申请材料有欠缺的事项，实行容缺受理。\
工作人员应当一次性告知需要补正的材料和期限，申请人在承诺期限内补齐材料后，行政机关依法作出决定；\
逾期未补齐的，按照不予许可处理。
办理时限自受理之日起计算，不含申请人补正材料、现场勘验、专家评审和公示的时间。法定办结时限为二十个工作日，\
承诺办结时限为五个工作日；因特殊情况需要延长的，应当经本部门负责人批准，并将延长期限的理由书面告知申请人。
办理结果可以选择电子证照、窗口领取或者邮政寄递等方式送达。跨境办理过程中涉及个人信息出境的，应当事先取得\
申请人的单独同意，并按照国家有关规定开展安全评估。港澳居民可以使用港澳居民来往内地通行证或者港澳居民居住证\
办理相关业务，工作人员应当认真核验身份，不得要求申请人重复提交已经收取的材料。申请人对办理过程或者结果有异议的，\
可以通过政务服务便民热线、网上投诉或者现场反映等渠道提出意见建议，有关部门应当在五个工作日内核实处理并及时答复。
"""

UNTOUCHED = [
    "https://att.gdzwfw.example/files/GDZW-20250312-000356/m01-2c519836733e.pdf",
    "jiaxin.liu@example.cn",
    "440106199304182621",
    "SO 58213",
    "11440000006939027K2440172062000",
    "Wang Tat Trading Limited",
]


@functools.cache
def _raw(config: str) -> opencc.OpenCC:
    """OpenCC as shipped, independent of gateway.text.convert, to show what the gateway changes."""
    return opencc.OpenCC(config)


def s2hk(s: str) -> str:
    return _raw("s2hk").convert(s)


# --- personal names ---------------------------------------------------------------------------


@pytest.mark.parametrize("surname", list("于余范党种朴游后"))
@pytest.mark.parametrize("region", REGIONS)
def test_ambiguous_surname_without_traditional_is_left_out(surname, region):
    name = surname + "嘉欣"
    assert s2hk(name)[0] != surname  # what OpenCC alone would write
    assert convert_name(name, None, region) is None


@pytest.mark.parametrize("surname", list("于余范党种朴游后"))
@pytest.mark.parametrize("region", REGIONS)
def test_ambiguous_surname_with_traditional_is_returned_verbatim(surname, region):
    own = surname + "嘉欣"
    assert convert_name(surname + "嘉欣", own, region) is own


def test_name_traditional_wins_even_when_conversion_would_differ():
    assert convert_name("陈伟强", "陳偉彊", "HK") == "陳偉彊"


@pytest.mark.parametrize(
    ("name", "expected"),
    [("刘嘉欣", "劉嘉欣"), ("邓慧玲", "鄧慧玲"), ("郑颖诗", "鄭穎詩"), ("许文龙", "許文龍")],
)
@pytest.mark.parametrize("region", REGIONS)
def test_unambiguous_name_converts(name, expected, region):
    assert convert_name(name, None, region) == expected
    assert convert_name(name, "", region) == expected  # an empty nameTraditional is absent


@pytest.mark.parametrize(
    ("name", "as_words", "expected"),
    [
        ("梁子豪", "樑子豪", "梁子豪"),
        ("胡子健", "鬍子健", "胡子健"),
        ("朱红梅", "硃紅梅", "朱紅梅"),
    ],
)
def test_name_converts_char_by_char_not_as_words(name, as_words, expected):
    assert s2hk(name) == as_words
    assert convert_name(name, None, "HK") == expected


def test_name_gets_region_character_forms():
    assert convert_name("卫志明", None, "HK") == "衞志明"
    assert convert_name("卫志明", None, "MO") == "衛志明"
    assert convert_name("陈锐", None, "HK") == "陳銳"  # not 鋭, outside Big5-HKSCS


def test_name_with_control_character_rejected():
    with pytest.raises(TextRejected):
        convert_name("刘\x00嘉欣", None, "HK")
    with pytest.raises(TextRejected):
        convert_name("刘嘉欣", "劉\x07嘉欣", "HK")


def test_ambiguous_list_holds_the_required_characters_and_its_claims():
    required = set("于余范党种朴游后沈叶萧肖谷丑卜斗云姜钟郁发干并庄征冲")
    assert required <= ambiguous_name_chars()
    lines = (text.DATA_DIR / "ambiguous-name-chars.txt").read_text(encoding="utf-8").splitlines()
    claims = 0
    for line in lines:
        if line.startswith("#") or not line.strip():
            continue
        ch, reason = line.split("\t")
        # "s2hk writes X" / "s2hk keeps X" (not followed by "in words") is about ch alone.
        for verb, out in re.findall(r"s2hk (writes|keeps) (\S)(?!\S*\s+in)", reason):
            claims += 1
            assert s2hk(ch) == (out if verb == "writes" else ch), line
    assert claims > 20


# --- place names, glossary, overrides ---------------------------------------------------------


@pytest.mark.parametrize("region", REGIONS)
def test_guangdong_chong_is_kept(region):
    assert s2hk("广州市海珠区涌边村") == "廣州市海珠區湧邊村"
    assert to_traditional("广州市海珠区涌边村", region) == "廣州市海珠區涌邊村"
    assert to_traditional("番禺区沙涌村", region) == "番禺區沙涌村"


def test_chong_exception_words_still_convert():
    assert to_traditional("游客涌入，人潮汹涌", "HK") == "遊客湧入，人潮洶湧"


def test_hk_glossary_entry():
    assert s2hk("无犯罪记录证明书") == "無犯罪記錄證明書"
    assert to_traditional("申请无犯罪记录证明书", "HK") == "申請無犯罪紀錄證明書"
    assert to_traditional("申请无犯罪记录证明书", "MO") == "申請無犯罪記錄證明書"


def test_mo_glossary_entry():
    assert s2hk("银行转账") == "銀行轉賬"
    assert to_traditional("银行转账", "MO") == "銀行轉帳"
    assert to_traditional("银行转账", "HK") == "銀行轉賬"


def test_common_glossary_entry():
    assert s2hk("佛山市南海区里水镇") == "佛山市南海區裏水鎮"
    assert to_traditional("佛山市南海区里水镇", "HK") == "佛山市南海區里水鎮"


def test_longest_glossary_entry_wins():
    # 税务局 (HK) and the shorter override 税 both apply; the glossary writes the whole term.
    assert to_traditional("香港税务局", "HK") == "香港稅務局"
    assert text._protector("MO").pattern.match("卫生中心").group() == "卫生中心"


def test_macao_wei_override():
    assert s2hk("卫生局") == "衞生局"
    assert to_traditional("卫生局", "HK") == "衞生局"  # 衞 is Hong Kong official usage
    assert to_traditional("卫生局", "MO") == "衛生局"
    assert to_traditional("保卫科", "MO") == "保衛科"  # the override, not the glossary
    assert to_traditional("户口", "MO") == "戶口"


@pytest.mark.parametrize("region", REGIONS)
def test_forms_outside_big5_hkscs_are_overridden(region):
    assert s2hk("说明税款") == "説明税款"
    assert to_traditional("说明税款", region) == "說明稅款"
    every = [chr(c) for c in range(0x4E00, 0x9FA6)]
    out = "".join(to_traditional_many(every, region))
    assert not set(out) & set(text.char_overrides(region))


@pytest.mark.parametrize("region", REGIONS)
def test_glossary_text_is_not_reconverted(region):
    # A glossary value goes out as written: s2hk would turn 衛 back into 衞.
    for simplified, traditional in text.glossary(region).items():
        assert to_traditional(simplified, region) == traditional


# --- protected spans and rejected text --------------------------------------------------------


@pytest.mark.parametrize("region", REGIONS)
@pytest.mark.parametrize("value", UNTOUCHED)
def test_codes_ids_urls_latin_untouched(value, region):
    assert to_traditional(value, region) == value
    assert to_traditional(f"详见{value}号", region) == f"詳見{value}號"
    assert to_simplified(f"詳見{value}號") == f"详见{value}号"


def test_placeholder_characters_in_input_survive():
    assert to_traditional("\ue000发\ue001展", "HK") == "\ue000發\ue001展"
    assert to_traditional_many(["\ue001", "a\ue000"], "MO") == ["\ue001", "a\ue000"]


def test_nul_rejected_not_truncated():
    assert _raw("s2hk").convert("a\x00b发") == "a"  # what would happen
    assert check_text("a\x00b发") == "control character U+0000 at position 1"
    with pytest.raises(TextRejected, match="U\\+0000"):
        to_traditional("a\x00b发", "HK")
    with pytest.raises(TextRejected):
        to_simplified("a\x00b發")
    with pytest.raises(TextRejected, match="text 1"):
        to_traditional_many(["好", "a\x00b"], "MO")


@pytest.mark.parametrize(
    "ch",
    [
        "\x01",
        "\x08",
        "\x0b",
        "\x0c",
        "\x1b",
        "\x1f",
        "\x7f",
        "\x80",
        "\x85",
        "\x9f",
        "\ud800",
        "\udfff",
    ],
)
def test_other_control_characters_rejected(ch):
    assert check_text(f"发{ch}展") is not None
    with pytest.raises(TextRejected):
        to_traditional(f"发{ch}展", "HK")


@pytest.mark.parametrize("ch", ["\t", "\n", "\r", " ", "\u3000", "\u00a0"])
def test_ordinary_whitespace_accepted(ch):
    assert check_text(f"发{ch}展") is None
    assert to_traditional(f"发{ch}展", "MO") == f"發{ch}展"


def test_unknown_region_rejected():
    with pytest.raises(ValueError, match="region"):
        to_traditional("发展", "TW")  # type: ignore[arg-type]


# --- round trip and batches -------------------------------------------------------------------


def test_prose_round_trip_opencc():
    assert len(PROSE) > 600
    back = opencc.OpenCC("hk2s", include_tofu_risk_dictionaries=False).convert(s2hk(PROSE))
    assert back == PROSE


@pytest.mark.parametrize("region", REGIONS)
def test_prose_round_trip_gateway(region):
    traditional = to_traditional(PROSE, region)
    assert traditional != PROSE
    assert to_simplified(traditional) == PROSE


def test_hk2s_tofu_risk_off():
    assert _raw("hk2s").convert("殢") == "𣨼"  # the binding's default
    assert to_simplified("殢") == "殢"


def test_converter_built_once():
    assert text._converter("s2hk") is text._converter("s2hk")


def test_empty_batch_and_empty_strings():
    assert to_traditional_many([], "HK") == []
    assert to_traditional_many(["", "", ""], "MO") == ["", "", ""]
    assert to_simplified_many(["", "發展"]) == ["", "发展"]


_CJK = st.characters(min_codepoint=0x4E00, max_codepoint=0x9FFF)
_TRICKY = st.sampled_from(
    list("涌边里水镇卫生局税务转账说后于沈阳发干\n\t\r \ue000\ue001") + ["汹涌", "卫生中心"]
)
_ASCII = st.characters(min_codepoint=0x20, max_codepoint=0x7E)
_FIELD = st.lists(st.one_of(_CJK, _TRICKY, _ASCII), max_size=30).map("".join)


@settings(max_examples=300, deadline=None)
@given(st.lists(_FIELD, max_size=12), st.sampled_from(REGIONS))
def test_batch_equals_one_by_one(texts, region):
    batch = to_traditional_many(texts, region)
    assert batch == [to_traditional(t, region) for t in texts]
    back = to_simplified_many(batch)
    assert back == [to_simplified(t) for t in batch]


@settings(max_examples=200, deadline=None)
@given(_FIELD, st.sampled_from(REGIONS))
def test_ascii_runs_pass_untouched(s, region):
    runs = re.compile(r"[!-~]+")
    assert runs.findall(to_traditional(s, region)) == runs.findall(s)
    assert runs.findall(to_simplified(s)) == runs.findall(s)


def test_the_raw_utf8_pre_check_finds_every_invisible_character_and_noncharacter() -> None:
    # the intake and the API guard skip the per-string walk when this says the bytes cannot
    # hold one: it must say so for every code point check_text refuses beyond the controls
    from gateway.text.tables import check_text, may_hold_invisible_or_noncharacter

    controls = re.compile("[\x00-\x1f\x7f-\x9f]")
    refused = 0
    for cp in range(0x110000):
        if 0xD800 <= cp <= 0xDFFF:
            continue
        ch = chr(cp)
        if check_text(ch) is not None and not controls.match(ch):
            refused += 1
            assert may_hold_invisible_or_noncharacter(f"陈{ch}伟".encode()), f"U+{cp:04X}"
    assert refused == 21 + 66  # the invisible characters and Unicode's noncharacters
    assert not may_hold_invisible_or_noncharacter("“陈伟强”，丰田（K628913(4)）𠀋".encode())
