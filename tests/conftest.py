"""Shared fixtures: one development key directory and one pipeline per test session."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from gateway.render.pipeline import Pipeline
from signing import KeyDirectory


@pytest.fixture(scope="session")
def keys(tmp_path_factory: pytest.TempPathFactory) -> KeyDirectory:
    directory = KeyDirectory(tmp_path_factory.mktemp("keys"))
    directory.init()
    return directory


@pytest.fixture(scope="session")
def pipeline() -> Pipeline:
    return Pipeline()


@pytest.fixture(scope="session")
def xmlsec1() -> str:
    """Debian's xmlsec1, the independent interop witness. Missing is a failure, not a skip."""
    path = shutil.which("xmlsec1")
    if path is None:
        pytest.fail("xmlsec1 is not installed: run ./dev test (it installs Debian's xmlsec1)")
    return path


@pytest.fixture(scope="session")
def gateway_cert(keys: KeyDirectory) -> Path:
    return sorted((keys.path / "parties" / "GD-GBA-GW").glob("*.cert.pem"))[-1]
