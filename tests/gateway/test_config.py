"""Settings: one place, every variable documented, environment wins over defaults."""

from __future__ import annotations

import os
import re
import subprocess
import sys
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


def test_an_unusable_variable_is_a_configuration_error_naming_it_not_its_value(
    tmp_path: Path,
) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GBAGW_")}
    env |= {
        "GBAGW_DATABASE_URL": f"sqlite:///{tmp_path}/g.db",
        "GBAGW_LEASE_SECONDS": "secret-looking-abc",
        "GBAGW_API_RATE": "-5",
        "GBAGW_NOTIFY_SECRET": "notasecret-value",  # not whsec_<base64 of 24-64 bytes>
    }
    gbagw = str(Path(sys.executable).with_name("gbagw"))
    for command in (["cases", "list"], ["agencies", "list", "--json"]):
        run = subprocess.run([gbagw, *command], env=env, capture_output=True, text=True, timeout=60)
        assert run.returncode == 3, run.stderr
        assert run.stderr.count("\n") == 1 and "Traceback" not in run.stderr
        for variable in ("GBAGW_LEASE_SECONDS", "GBAGW_API_RATE", "GBAGW_NOTIFY_SECRET"):
            assert variable in run.stderr, run.stderr
        assert "whsec_<base64" in run.stderr
        assert "secret-looking" not in run.stderr + run.stdout
        assert "notasecret-value" not in run.stderr + run.stdout
