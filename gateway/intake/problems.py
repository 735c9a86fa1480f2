"""What intake says about an application it refuses: every problem, each with its JSON path."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class Problem:
    path: str  # JSON path of the offending field; "" for the document itself
    message: str

    def __str__(self) -> str:
        return f"{self.path or '(document)'}: {self.message}"


class ApplicationRejected(ValueError):
    """The application cannot be accepted as filed; ``problems`` lists every reason."""

    def __init__(self, problems: list[Problem]):
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


def json_path(loc: Iterable[str | int]) -> str:
    """``("materials", 2, "code")`` as ``materials[2].code``: the form the platform shows."""
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def dedupe(problems: Iterable[Problem]) -> list[Problem]:
    return list(dict.fromkeys(problems))
