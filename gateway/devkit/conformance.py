"""The conformance kit's common shape: named checks with a pass/fail and the reason."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from gateway.devkit.examples import bundled_examples

if TYPE_CHECKING:
    from gateway.render.pipeline import Pipeline


@dataclass(frozen=True)
class CheckResult:
    name: str  # stable, e.g. "submit.idempotent-repeat"; the table and tests refer to it
    passed: bool
    detail: str = ""


def example_for(pipeline: Pipeline, region: str, agency: str) -> tuple[dict[str, Any], bool]:
    """A bundled example for a conformance run against ``agency``.

    The first example of ``region`` whose mapping sends it to ``agency``; else the region's first
    example, with ``True`` to say that the caller must re-address it to ``agency``.
    """
    candidates = []
    for path in bundled_examples():
        data = json.loads(path.read_text(encoding="utf-8"))
        if data.get("targetRegion") != region:
            continue
        app = pipeline.accept(data)
        mapping = pipeline.mappings.find(app.item_code, app.item_version, region)
        if mapping is not None and mapping.agency == agency:
            return data, False
        candidates.append(data)
    if not candidates:
        raise RuntimeError(f"no bundled {region} example")
    return candidates[0], True
