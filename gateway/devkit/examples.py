"""The bundled example Guangdong applications (gateway/data/examples), for the demo and kits."""

from __future__ import annotations

from importlib import resources
from pathlib import Path


def bundled_examples() -> list[Path]:
    return sorted(Path(str(resources.files("gateway") / "data" / "examples")).glob("*.json"))
