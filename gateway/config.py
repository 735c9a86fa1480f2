"""The gateway's settings: one place, read from ``GBAGW_*`` environment variables.

Every variable, its default and its meaning is listed in ``docs/configuration.md``; a test
keeps that page and this class in step. Defaults give the embedded mode (SQLite, an
in-process broker, sandbox agencies on loopback), so a fresh checkout runs with none set.
"""

from __future__ import annotations

import functools
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="GBAGW_", extra="ignore", frozen=True)

    keys: Path = Field(
        Path("var/keys"),
        description="Key directory: trust.yaml, the gateway's signing keys, agency certificates.",
    )
    database_url: str = Field(
        "sqlite:///var/gateway.db",
        description="SQLAlchemy URL of the case store (postgresql+psycopg://… in production).",
    )
    broker_url: str = Field(
        "",
        description="Celery broker (amqp://… or redis://…); empty: the embedded in-process one.",
    )
    queue: str = Field(
        "gbagw",
        pattern=r"^[a-z][a-z0-9_.-]{0,63}$",
        description="Broker queue name prefix; deployments sharing a broker need their own.",
    )
    agencies: Path | None = Field(
        None,
        description="Agency directory YAML; empty: the bundled one (the local sandboxes).",
    )
    worker_concurrency: int = Field(
        4, ge=1, description="Deliveries one worker process runs at once (threads or processes)."
    )
    lease_seconds: float = Field(
        60.0,
        gt=0,
        description="How long a claimed delivery is held before the sweep takes it back.",
    )
    relay_interval: float = Field(
        0.2, gt=0, description="Seconds between the relay's looks for due outbox rows."
    )
    sweep_interval: float = Field(
        5.0, gt=0, description="Seconds between sweeps (expired leases, lost publishes)."
    )
    poll_interval: float = Field(
        10.0, gt=0, description="Seconds between polls of open cases (beat; batch per run)."
    )
    overdue_interval: float = Field(
        300.0, gt=0, description="Seconds between overdue checks (committed dates, materials)."
    )
    max_input_bytes: int = Field(
        1_000_000,
        gt=0,
        description="Largest application or document read from a file, pipe or request.",
    )


@functools.cache
def settings() -> Settings:
    """The process's settings, read once from the environment."""
    return Settings()
