"""The commands an operator runs: a wrong or missing data key is one clear line and exit code
3, never a traceback; ``gbagw db rotate-keys`` re-encrypts; ``gbagw cases
purge-personal-data`` reports what it removed."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from gateway.store import file_case, transaction, upgrade
from gateway.store.testing import Backend
from tests.gateway.privacy.conftest import KEY_ONE, KEY_TWO, bound_sessions, personal_filing

GBAGW = str(Path(sys.executable).with_name("gbagw"))


def gbagw(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("GBAGW_")}
    base |= {
        "GBAGW_KEYS": str(tmp_path / "keys"),
        "GBAGW_DATABASE_URL": f"sqlite:///{tmp_path / 'gw.db'}",
    }
    return subprocess.run(
        [GBAGW, *args], env=base | env, cwd=tmp_path, capture_output=True, text=True, timeout=120
    )


@pytest.fixture
def filed(tmp_path: Path) -> str:
    """A store with one case, encrypted under k1; its case reference."""
    url = f"sqlite:///{tmp_path / 'gw.db'}"
    upgrade(url)
    arguments = personal_filing(1)
    with bound_sessions(Backend("sqlite", url, None, None), KEY_ONE) as sessions:  # type: ignore[arg-type]
        with transaction(sessions) as session:
            file_case(session, **arguments)
    return arguments["case_ref"]


def test_a_missing_key_is_a_configuration_error_naming_it(tmp_path: Path, filed: str) -> None:
    done = gbagw(tmp_path, "cases", "show", filed, "--json", GBAGW_DATA_KEYS=KEY_TWO)
    assert done.returncode == 3
    assert "data key 'k1'" in done.stderr and "rotate-keys" in done.stderr
    assert "Traceback" not in done.stderr + done.stdout
    assert gbagw(tmp_path, "cases", "show", filed, GBAGW_DATA_KEYS=KEY_ONE).returncode == 0


def test_a_production_role_without_keys_refuses_to_start(tmp_path: Path, filed: str) -> None:
    done = gbagw(tmp_path, "cases", "list", GBAGW_BROKER_URL="redis://127.0.0.1:6379/0")
    assert done.returncode == 3
    assert "GBAGW_DATA_KEYS is not set" in done.stderr and "Traceback" not in done.stderr
    assert not (tmp_path / "var" / "data.keyring").exists()  # it made no key of its own


def test_rotate_keys_then_drop_the_old_key(tmp_path: Path, filed: str) -> None:
    done = gbagw(
        tmp_path, "db", "rotate-keys", "--batch", "1", GBAGW_DATA_KEYS=f"{KEY_TWO},{KEY_ONE}"
    )
    assert done.returncode == 0, done.stderr
    assert "cases.application: 1 values re-encrypted" in done.stdout
    assert "messages.body: 1 values re-encrypted" in done.stdout
    assert "identity_hashes: 1 cases re-hashed" in done.stdout
    assert gbagw(tmp_path, "cases", "show", filed, GBAGW_DATA_KEYS=KEY_TWO).returncode == 0
    assert gbagw(tmp_path, "cases", "show", filed, GBAGW_DATA_KEYS=KEY_ONE).returncode == 3


def test_purge_personal_data_reports_what_it_did(tmp_path: Path, filed: str) -> None:
    done = gbagw(tmp_path, "cases", "purge-personal-data", "--days", "30", GBAGW_DATA_KEYS=KEY_ONE)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "personal data removed from 0 cases closed more than 30 days ago"
