"""The conformance kit's common shape: named checks with a pass/fail and the reason."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class CheckResult:
    name: str  # stable, e.g. "submit.idempotent-repeat"; the table and tests refer to it
    passed: bool
    detail: str = ""
