"""``gbagw supplement``: forward an applicant's documents answering a 補正 request (stub)."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Add the command to ``app`` (filled in with the supplement work)."""
