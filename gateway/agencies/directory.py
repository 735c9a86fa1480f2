"""Load and check the agency directory (``GBAGW_AGENCIES``, else the bundled one).

Each agency inherits the ``defaults`` block key by key, so an operator writes only what
differs. ``sandbox:<REGION>`` URLs name the local sandbox agency of a region; the process that
starts the sandboxes resolves them (:meth:`AgencyDirectory.with_sandboxes`).
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from gateway import yamltext
from gateway.outbox.policy import BreakerPolicy, RetryPolicy

SANDBOX_SCHEME = "sandbox:"


class DirectoryError(ValueError):
    """The agency directory cannot be used; the message names the file and the entry."""


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Agency(Strict):
    code: str = Field(pattern=r"^[A-Z]{2}-[A-Z0-9]+$")
    format: str = Field(pattern=r"^[A-Z]{2}$")
    url: str
    timeout: float = Field(10.0, gt=0)
    concurrency: int = Field(4, ge=1)
    retry: RetryPolicy = RetryPolicy()
    breaker: BreakerPolicy = BreakerPolicy()

    @property
    def sandbox_region(self) -> str | None:
        """The region whose local sandbox serves this agency, for ``sandbox:`` URLs."""
        return self.url[len(SANDBOX_SCHEME) :] if self.url.startswith(SANDBOX_SCHEME) else None


class AgencyDirectory:
    def __init__(self, agencies: dict[str, Agency], source: str):
        self.agencies = agencies
        self.source = source

    @classmethod
    def load(cls, path: Path | None = None) -> AgencyDirectory:
        source = str(path) if path else "bundled agencies.yaml"
        try:
            document = (
                yamltext.read(path)
                if path
                else yamltext.load(
                    (resources.files("gateway") / "data" / "agencies.yaml").read_text("utf-8")
                )
            )
        except yamltext.YamlRefused as exc:
            raise DirectoryError(f"{source}: cannot read: {exc}") from None
        return cls.from_document(document, source)

    @classmethod
    def from_document(cls, document: Any, source: str) -> AgencyDirectory:
        if not isinstance(document, dict) or not isinstance(document.get("agencies"), dict):
            raise DirectoryError(f"{source}: needs an 'agencies' mapping of agency code → entry")
        defaults = document.get("defaults") or {}
        if not isinstance(defaults, dict):
            raise DirectoryError(f"{source}: 'defaults' must be a mapping")
        agencies = {}
        for code, entry in document["agencies"].items():
            if not isinstance(entry, dict):
                raise DirectoryError(f"{source}: agencies.{code}: must be a mapping")
            try:
                agencies[str(code)] = Agency.model_validate(
                    {**_merge(defaults, entry), "code": str(code)}
                )
            except ValidationError as exc:
                problems = "; ".join(
                    f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()
                )
                raise DirectoryError(f"{source}: agencies.{code}: {problems}") from None
        return cls(agencies, source)

    def get(self, code: str) -> Agency:
        try:
            return self.agencies[code]
        except KeyError:
            raise DirectoryError(f"{self.source}: no agency {code}") from None

    def __iter__(self):
        return iter(self.agencies.values())

    def with_sandboxes(self, urls: dict[str, str]) -> AgencyDirectory:
        """The directory with ``sandbox:<REGION>`` replaced by the running sandboxes' URLs."""
        resolved = {
            code: a.model_copy(update={"url": urls[a.sandbox_region]})
            if a.sandbox_region in urls
            else a
            for code, a in self.agencies.items()
        }
        return AgencyDirectory(resolved, self.source)


def _merge(defaults: dict[str, Any], entry: dict[str, Any]) -> dict[str, Any]:
    merged = dict(defaults)
    for key, value in entry.items():
        base = defaults.get(key)
        merged[key] = (
            {**base, **value} if isinstance(base, dict) and isinstance(value, dict) else value
        )
    return merged
