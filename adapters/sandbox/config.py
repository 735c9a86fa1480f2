"""Sandbox configuration: which agency region, where its keys and database live, what it does.

One YAML file per sandbox (``SandboxConfig.from_yaml``). The scenario switches choose how a
case's status develops; the fault switches make the sandbox misbehave on purpose so that the
gateway's retry, idempotency and signature handling can be shown to work.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from gateway import yamltext
from gateway.domain import Region

ScenarioName = Literal["happy", "supplement", "reject", "withdraw"]

#: spellings accepted in YAML besides the canonical names (補正 is what case officers say)
_SCENARIO_ALIASES = {"補正": "supplement", "补正": "supplement"}


def _scenario(value: Any) -> Any:
    return _SCENARIO_ALIASES.get(value, value) if isinstance(value, str) else value


Scenario = Annotated[ScenarioName, BeforeValidator(_scenario)]


class Faults(BaseModel):
    """Deliberate misbehaviour. All off by default: a default sandbox is a correct agency."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    #: answer "unavailable" (HK 503, SIP soap:Server) for this long after start
    unavailable_seconds: float = Field(default=0, ge=0)
    #: answer "unavailable" to the first N requests
    unavailable_requests: int = Field(default=0, ge=0)
    #: sleep this long before answering any request (to trip the client's timeout)
    delay_seconds: float = Field(default=0, ge=0)
    #: emit every status event twice
    duplicate_notices: bool = False
    #: emit status events out of order (adjacent pairs swapped)
    out_of_order_notices: bool = False
    #: sign with a freshly generated key whose certificate is registered nowhere
    wrong_key: bool = False
    #: broken on purpose: a repeat gets a new receipt and agency ref, a conflict is accepted
    ignore_idempotency: bool = False


class SandboxConfig(BaseModel):
    """Everything one sandbox agency process needs."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    region: Region
    #: a signing ``KeyDirectory``: agency keys to sign with, the gateway certificate to trust
    keys_dir: Path
    #: SQLite file (created when missing); one per sandbox
    database: Path
    scenario: Scenario = "happy"
    scenarios_by_service: dict[str, Scenario] = {}
    scenarios_by_case: dict[str, Scenario] = {}
    #: delay between scripted status steps; 0 makes every step due at once
    step_seconds: float = Field(default=0, ge=0)
    #: HK only: the gateway URL StatusNotices are pushed to (None: no push)
    push_url: str | None = None
    #: HK only: agency code → the bearer token its pushes present (the gateway gives each
    #: agency an API client of role agency:CODE; a push without one is refused with 401)
    push_tokens: dict[str, str] = {}
    faults: Faults = Faults()

    @classmethod
    def from_yaml(cls, path: str | Path) -> SandboxConfig:
        """Load a YAML file; relative ``keys_dir`` / ``database`` are relative to the file."""
        path = Path(path)
        data = yamltext.read(path) or {}  # bounded: aliases, depth, size
        if not isinstance(data, dict):
            raise ValueError(f"{path}: expected a mapping")
        for name in ("keys_dir", "database"):
            if name in data and not Path(str(data[name])).is_absolute():
                data[name] = path.parent / str(data[name])
        return cls.model_validate(data)

    @classmethod
    def coerce(cls, value: SandboxConfig | Mapping[str, Any] | str | Path) -> SandboxConfig:
        """A config from what a caller that cannot name this class has: a YAML path or a
        mapping of fields (the core starts sandboxes through entry points only)."""
        if isinstance(value, cls):
            return value
        if isinstance(value, str | Path):
            return cls.from_yaml(value)
        return cls.model_validate(dict(value))

    def scenario_for(self, case_ref: str, service_code: str) -> ScenarioName:
        """By case ref, else by service code, else the default."""
        return self.scenarios_by_case.get(
            case_ref, self.scenarios_by_service.get(service_code, self.scenario)
        )
