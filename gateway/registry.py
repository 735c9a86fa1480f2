"""Entry-point lookups: the adapter packages' formats, transports, sandboxes and conformance kits.

Each face of an adapter package has its own entry-point group, keyed by region code, so a new
agency format is a new package (and a format can ship without, say, a sandbox).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from importlib.metadata import entry_points
from typing import Any

from gateway.ports import AgencyFormat


@functools.cache
def installed_formats() -> dict[str, AgencyFormat]:
    """Region code → format, for every adapter package installed with the gateway."""
    return {ep.name: ep.load() for ep in entry_points(group="gba_gateway.formats")}


def format_for_namespace(namespace: str) -> AgencyFormat | None:
    """The format whose documents live in ``namespace`` (for inbound documents)."""
    for fmt in installed_formats().values():
        if getattr(fmt, "namespace", None) == namespace:
            return fmt
    return None


@functools.cache
def _group(name: str) -> dict[str, Any]:
    return {ep.name: ep for ep in entry_points(group=name)}


def _load(group: str, region: str) -> Callable[..., Any]:
    found = _group(group).get(region)
    if found is None:
        raise LookupError(f"no {group.rsplit('.', 1)[-1]} installed for region {region}")
    return found.load()


def client_factory(region: str) -> Callable[..., Any]:
    """``connect(url, trust, *, agency, timeout, transport=None) -> gateway.ports.AgencyClient``."""
    return _load("gba_gateway.clients", region)


def sandbox_factory(region: str) -> Callable[..., Any]:
    """``create_app(config) -> ASGI app`` of the region's sandbox agency.

    ``config`` is a YAML path or a mapping of its fields, so the core never names the
    sandbox's config class.
    """
    return _load("gba_gateway.sandboxes", region)


def conformance_runner(region: str) -> Callable[..., Any]:
    """``run(url, keys, agency) -> list[CheckResult]``."""
    return _load("gba_gateway.conformance", region)


def installed_receivers() -> list[str]:
    """Region codes with a push receiver installed (their sandboxes can push to the gateway)."""
    return sorted(_group("gba_gateway.receivers"))


def receiver_factory(region: str) -> Callable[..., Any]:
    """``create_receiver(inbound: gateway.inbound.receive.Inbound) -> ASGI app``."""
    return _load("gba_gateway.receivers", region)
