"""Text conversion on one core: the gateway's two-engine design vs bare OpenCC, per region.

    .venv/bin/python bench/text.py [--seconds 2] [--full]

chars/s: one call over ~30 KB of government prose; calls/s: one 30-character field per call.
"bare OpenCC" is ``s2hk`` alone (no rules); "zhconv-rs" is the primary engine alone; "gateway"
is gateway.text.convert (both engines, glyph forms, rules). Then the differential corpus: the
dictionary shipped with jieba (--full: all ~350k words; default: the committed sample): words
where the engines agree, and the disagreements in total, triaged (a rule decided) and open.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import opencc  # noqa: E402
import zhconv_rs  # noqa: E402

from gateway.text import convert  # noqa: E402
from gateway.text.corpus import disagreements, jieba_words, sample_words  # noqa: E402

PROSE = (
    "为深入推进粤港澳大湾区政务服务跨境通办，广东省政务服务和数据管理局会同有关部门编制本办事指南。"
    "申请人可以通过广东政务服务网、粤省事移动端、自助服务终端或者各级政务服务中心窗口提交申请，"
    "也可以委托代理人办理。对实行告知承诺制的事项，申请人书面承诺已经符合告知的条件、标准和要求，"
    "行政机关不再索要有关证明材料。住所：广东省广州市天河区珠江新城华夏路3号2座1501室。"
)


def rate(fn, arg, seconds: float) -> float:
    n, start = 0, time.process_time()
    while (elapsed := time.process_time() - start) < seconds:
        fn(arg)
        n += 1
    return n / elapsed


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=2.0)
    parser.add_argument("--full", action="store_true", help="all of jieba's ~350k words")
    args = parser.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    big = PROSE * (30_000 // len(PROSE))
    field = PROSE[:30]
    s2hk = opencc.OpenCC("s2hk")
    print(f"one core; prose {len(big)} chars per call, fields of {len(field)} chars")
    print(f"{'region':<7}{'design':<14}{'chars/s':>14}{'calls/s':>12}")
    for region in ("HK", "MO"):
        zh = zhconv_rs.make_converter("zh-hk" if region == "HK" else "zh-mo", [])
        designs = {
            "bare OpenCC": s2hk.convert,
            "zhconv-rs": zh,
            "gateway": lambda s, r=region: convert.to_traditional(s, r),
        }
        for name, fn in designs.items():
            chars = rate(fn, big, args.seconds) * len(big)
            calls = rate(fn, field, args.seconds)
            print(f"{region:<7}{name:<14}{chars:>14,.0f}{calls:>12,.0f}")
    words = jieba_words() if args.full else sample_words()
    label = "jieba dictionary" if args.full else "committed sample"
    print(f"differential corpus: {len(words):,} words ({label}); disagreements are words")
    print("where the engines differ: triaged = a rule decided, open = zhconv-rs decided alone")
    print(f"{'region':<7}{'agree':>10}{'total':>10}{'triaged':>10}{'open':>10}")
    groups: Counter[tuple[str, str, str, str]] = Counter()
    examples: dict[tuple[str, str, str, str], str] = {}
    for region in ("HK", "MO"):
        start = time.perf_counter()
        found: Counter[tuple[str, str, str]] = Counter()
        seen: dict[tuple[str, str, str], list[str]] = {}
        c = disagreements(words, region, found, seen)  # type: ignore[arg-type]
        took = time.perf_counter() - start
        total = c["triaged"] + c["open"]
        print(
            f"{region:<7}{c['agree']:>10,}{total:>10,}{c['triaged']:>10,}{c['open']:>10,}"
            f"   ({took:.1f} s)"
        )
        for key, n in found.items():
            groups[(region, *key)] = n
            examples[(region, *key)] = seen[key][0]
    print("largest open groups:")
    for (r, src, p, s), n in groups.most_common(10):
        print(f"  {n:>6} {r} {src}: zhconv-rs {p} / OpenCC {s}   e.g. {examples[(r, src, p, s)]}")


if __name__ == "__main__":
    main()
