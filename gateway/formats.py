"""Discovery of agency formats through the ``gba_gateway.formats`` entry-point group."""

from __future__ import annotations

import functools
from importlib.metadata import entry_points

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
