"""Settings: one place, every variable documented, environment wins over defaults."""

from __future__ import annotations

import re
from pathlib import Path

from gateway.config import Settings

DOC = Path(__file__).resolve().parents[2] / "docs" / "configuration.md"


def documented() -> dict[str, str]:
    rows = re.findall(r"^\| `(GBAGW_[A-Z_]+)` \| ([^|]*) \|", DOC.read_text("utf-8"), re.M)
    return {name: default.strip() for name, default in rows}


def test_every_setting_is_documented_with_its_default() -> None:
    docs = documented()
    fields = {f"GBAGW_{name.upper()}": field for name, field in Settings.model_fields.items()}
    assert set(docs) == set(fields)
    for name, field in fields.items():
        default = "" if field.default in (None, "") else str(field.default)
        assert docs[name].strip("`") == default or (default == "" and "empty" in docs[name]), name


def test_environment_overrides_defaults(monkeypatch) -> None:
    monkeypatch.setenv("GBAGW_KEYS", "/tmp/k")
    monkeypatch.setenv("GBAGW_MAX_INPUT_BYTES", "10")
    s = Settings()
    assert s.keys == Path("/tmp/k") and s.max_input_bytes == 10
