"""The scripted status histories a sandbox case follows, in canonical ``CaseStatus``.

A script is a fixed list of steps; each becomes due ``step_seconds`` after the one before,
except a step marked ``after_supplement``, which also waits until a supplement (補正 answer)
has arrived. The format layer translates the canonical status into its own codes.
"""

from __future__ import annotations

from dataclasses import dataclass

from adapters.sandbox.config import ScenarioName
from gateway.domain import CaseStatus

S = CaseStatus


@dataclass(frozen=True)
class Step:
    status: CaseStatus
    #: due only once a supplement has been received (the step after INFO_REQUIRED)
    after_supplement: bool = False
    remarks: str | None = None


SCRIPTS: dict[ScenarioName, tuple[Step, ...]] = {
    "happy": (
        Step(S.RECEIVED),
        Step(S.ACCEPTED),
        Step(S.IN_PROGRESS),
        Step(S.APPROVED),
        Step(S.COMPLETED, remarks="已簽發結果文件"),
    ),
    "supplement": (
        Step(S.RECEIVED),
        Step(S.ACCEPTED),
        Step(S.INFO_REQUIRED, remarks="請補交所需文件"),
        Step(S.IN_PROGRESS, after_supplement=True),
        Step(S.APPROVED),
        Step(S.COMPLETED, remarks="已簽發結果文件"),
    ),
    "reject": (
        Step(S.RECEIVED),
        Step(S.ACCEPTED),
        Step(S.IN_PROGRESS),
        Step(S.REJECTED, remarks="申請不符合資格"),
    ),
    "withdraw": (
        Step(S.RECEIVED),
        Step(S.ACCEPTED),
        Step(S.WITHDRAWN, remarks="申請人已撤回申請"),
    ),
}


def script(name: ScenarioName) -> tuple[Step, ...]:
    return SCRIPTS[name]
