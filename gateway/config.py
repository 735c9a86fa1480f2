"""The gateway's settings: one place, read from ``GBAGW_*`` environment variables.

Every variable, its default and its meaning is listed in ``docs/configuration.md``; a test
keeps that page and this class in step. Defaults give the embedded mode (SQLite, an
in-process broker, sandbox agencies on loopback), so a fresh checkout runs with none set.
"""

from __future__ import annotations

import base64
import functools
from pathlib import Path

from pydantic import Field, SecretStr, ValidationError, field_validator
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
    db_pool_size: int = Field(
        10,
        ge=1,
        le=200,
        description="Database connections a process keeps open; as many again while busy.",
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

    # --- the gateway's HTTP service (agency push receivers; `gbagw api`) ----------------------
    api_port: int = Field(
        0,
        ge=0,
        le=65535,
        description="Port of the gateway's HTTP service on 127.0.0.1: `gbagw run` serves it "
        "in-process (0: a free port) and `gbagw api` listens there (0: 8080).",
    )
    api_workers: int = Field(
        1,
        ge=1,
        le=64,
        description="Processes `gbagw api` serves with (one Python process uses one core).",
    )
    api_max_body_bytes: int = Field(
        2_000_000,
        gt=0,
        description="Largest request body the HTTP service reads (413 beyond, before reading it).",
    )
    api_body_timeout: float = Field(
        10.0, gt=0, description="Seconds a client has to send a whole request body (then 408)."
    )
    api_rate: float = Field(
        100.0,
        ge=0,
        description="Requests a second one API client may send (per api process; 0: no limit).",
    )
    api_burst: int = Field(
        200, ge=1, description="Requests one API client may send at once above its rate."
    )
    api_push_auth: bool = Field(
        True,
        description="Agency pushes need a bearer token of that agency's client (agency:CODE).",
    )

    # --- notifications to Guangdong (Art. 22; docs/events.md) ---------------------------------
    notify_url: str = Field(
        "",
        description="Guangdong's webhook URL for case notifications; empty: none configured, "
        "notifications stay pending (queued, listed) until one is.",
    )
    notify_secret: str = Field(
        "",
        description="Standard Webhooks secret (whsec_<base64>); empty: <keys>/webhooks/guangdong"
        ".secret, created on first use in the embedded mode.",
    )
    notify_timeout: float = Field(10.0, gt=0, description="Seconds per webhook request.")

    @field_validator("notify_secret")
    @classmethod
    def _webhook_secret(cls, value: str) -> str:
        if value and (problem := webhook_secret_problem(value)) is not None:
            raise ValueError(problem)  # checked at start: a worker must not sign with junk
        return value

    notify_concurrency: int = Field(
        4, ge=1, description="Notifications in flight to the webhook at once."
    )
    notify_retry_base_delay: float = Field(
        2.0, gt=0, description="Seconds before a notification's first retry (then doubling)."
    )
    notify_retry_cap: float = Field(
        300.0, gt=0, description="Longest wait between two attempts of one notification."
    )
    notify_max_attempts: int = Field(
        12, ge=1, description="Attempts before a notification goes dead (redrivable)."
    )
    notify_breaker_threshold: int = Field(
        5, ge=1, description="Consecutive retryable failures that pause the webhook."
    )
    notify_breaker_cooldown: float = Field(
        30.0, gt=0, description="Seconds the paused webhook waits before one probe."
    )

    # --- polling and pulling open cases (issue 10 item 2; gateway/reconcile) -----------------
    poll_base_seconds: float = Field(
        30.0,
        gt=0,
        description="Seconds between polls of a case in its first hour at the agency; the "
        "interval doubles per day of age after that.",
    )
    poll_max_seconds: float = Field(
        21600.0, gt=0, description="Longest interval between two polls of an open case."
    )
    pull_after_seconds: float = Field(
        3600.0,
        gt=0,
        description="A case of an agency that pushes (HK) is pulled once silent this long.",
    )
    poll_batch: int = Field(200, ge=1, description="Open cases asked about per poll run, at most.")
    poll_agency_limit: int = Field(
        100, ge=1, description="Calls to one agency per poll run, at most."
    )
    poll_agency_spacing: float = Field(
        0.01, ge=0, description="Seconds between the starts of two poll calls to one agency."
    )

    # --- personal data (Art. 28, PIPL; gateway/privacy) ---------------------------------------
    data_keys: SecretStr = Field(
        SecretStr(""),
        description="Data encryption keys, keyid:base64(32 bytes),…: the first encrypts, all "
        "decrypt; empty: var/data.keyring, made on first use in the embedded mode only.",
    )
    personal_data_retention_days: int = Field(
        1825,
        ge=1,
        description="Days after a case closes before its personal data is removed.",
    )
    log_level: str = Field(
        "",
        pattern=r"^(|(?i:debug|info|warning|error))$",
        description="Log level of gbagw commands (debug, info, warning, error); empty: Python's "
        "default (warnings and errors on stderr). Personal data is masked at every level.",
    )


def webhook_secret_problem(value: str) -> str | None:
    """What is wrong with a Standard Webhooks secret (``whsec_`` and the base64 of 24 to 64
    random bytes), or None; never repeats the value."""
    encoded = value.removeprefix("whsec_")
    try:
        size = len(base64.b64decode(encoded, validate=True)) if encoded != value else 0
    except ValueError:
        size = 0
    if 24 <= size <= 64:
        return None
    return "must be whsec_<base64 of 24-64 random bytes> (gbagw keeps a generated one)"


class SettingsInvalid(ValueError):
    """A ``GBAGW_*`` variable holds a value the gateway cannot use: one line per variable,
    naming it and what is wrong, never echoing the value (it may be a password or a key)."""


@functools.cache
def settings() -> Settings:
    """The process's settings, read once from the environment."""
    try:
        return Settings()
    except ValidationError as exc:
        raise SettingsInvalid(
            "; ".join(f"{_variable(error['loc'])}: {error['msg']}" for error in exc.errors())
        ) from None


def _variable(loc: tuple[int | str, ...]) -> str:
    return "GBAGW_" + str(loc[0]).upper() if loc else "GBAGW_*"
