"""Fixtures the HK and Macao sandbox tests share: fresh example applications, running sandboxes.

Test modules cannot import one another (``--import-mode=importlib``, no packages), so shared
helpers are fixtures here, most of them returning a factory. ``keys`` and ``pipeline`` come
from ``tests/conftest.py``.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any

import pytest
from lxml import etree

from adapters.hk.sandbox import create_app as create_hk_sandbox
from adapters.macau.sandbox import create_app as create_mo_sandbox
from adapters.sandbox import SandboxAgency, SandboxConfig
from gateway.devkit.examples import bundled_examples
from gateway.render.pipeline import Pipeline, Rendered
from gateway.serve import serving
from signing import KeyDirectory

#: each region's sandbox app factory, and the path under its base URL that agencies answer at
SANDBOX_APPS: dict[str, tuple[Callable[[SandboxConfig], Any], str]] = {
    "HK": (create_hk_sandbox, ""),
    "MO": (create_mo_sandbox, "/sip"),
}
#: the fixtures' types; test modules, which cannot import this file, repeat the ones they use
RenderExample = Callable[..., Rendered]
RunSandbox = Callable[..., AbstractContextManager[tuple[str, SandboxAgency]]]
ToBytes = Callable[[etree._Element], bytes]


@pytest.fixture(scope="session")
def render_example(pipeline: Pipeline, keys: KeyDirectory) -> RenderExample:
    """Factory: a bundled example by name as a new application (fresh case ref), rendered."""
    examples = {path.stem: path for path in bundled_examples()}

    def render(name: str, *, signed: bool = True) -> Rendered:
        data = json.loads(examples[name].read_text(encoding="utf-8"))
        data["applicationNo"] = f"{data['applicationNo']}-{uuid.uuid4().hex[:8]}"
        return pipeline.render(pipeline.accept(data), keys.gateway_key() if signed else None)

    return render


@pytest.fixture(scope="session")
def render_conflicting(pipeline: Pipeline, keys: KeyDirectory) -> Callable[[Rendered], Rendered]:
    """Factory: the same case (same case ref) saying something else — the applicant's mobile
    with another last digit — rendered and signed under a new message id."""

    def render(rendered: Rendered) -> Rendered:
        app = rendered.case.application
        mobile = app.applicant.mobile
        other = mobile[:-1] + ("1" if mobile[-1] != "1" else "2")
        applicant = app.applicant.model_copy(update={"mobile": other})
        changed = app.model_copy(update={"applicant": applicant})
        return pipeline.render(changed, keys.gateway_key())

    return render


@pytest.fixture(scope="session")
def to_bytes() -> ToBytes:
    """Serialiser: an element as UTF-8 bytes with an XML declaration, like ``Rendered``."""

    def serialise(root: etree._Element) -> bytes:
        return etree.tostring(root, xml_declaration=True, encoding="UTF-8")

    return serialise


@pytest.fixture(scope="session")
def run_sandbox(keys: KeyDirectory) -> RunSandbox:
    """Factory: a region's sandbox on loopback with the test keys; yields (endpoint, agency)."""

    @contextmanager
    def run(
        region: str,
        directory: Path,
        *,
        wrap_app: Callable[[Any], Any] | None = None,
        **settings: Any,
    ) -> Iterator[tuple[str, SandboxAgency]]:
        """``settings`` are ``SandboxConfig`` fields; ``wrap_app`` wraps the ASGI app served."""
        config = SandboxConfig.model_validate(
            {
                "region": region,
                "keys_dir": keys.path,
                "database": directory / f"{region.lower()}-{uuid.uuid4().hex[:8]}.sqlite",
                **settings,
            }
        )
        create_app, endpoint = SANDBOX_APPS[region]
        app = create_app(config)
        with serving(wrap_app(app) if wrap_app else app) as base:
            yield f"{base}{endpoint}", app.state.agency

    return run


@pytest.fixture(scope="module")
def hk_sandbox_settings() -> dict[str, Any]:
    """``SandboxConfig`` overrides for ``hk_sandbox``; a test module redefines it to change them."""
    return {}


@pytest.fixture(scope="module")
def hk_sandbox(
    run_sandbox: RunSandbox,
    hk_sandbox_settings: dict[str, Any],
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[str, SandboxAgency]]:
    """One HK sandbox per test module for the tests that need no special configuration."""
    directory = tmp_path_factory.mktemp("hk-sandbox")
    with run_sandbox("HK", directory, **hk_sandbox_settings) as started:
        yield started


@pytest.fixture(scope="module")
def mo_sandbox_url(
    run_sandbox: RunSandbox, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """The SIP endpoint of one default Macao sandbox per test module."""
    with run_sandbox("MO", tmp_path_factory.mktemp("mo-sandbox")) as (url, _):
        yield url
