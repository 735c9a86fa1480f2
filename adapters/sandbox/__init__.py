"""The shared, format-neutral core of sandbox agencies (see ``README.md`` here).

A format's sandbox app (HK CBCE, Macao SIP) handles its own wire protocol and documents and
asks a :class:`SandboxAgency` for every decision: is this message new, a duplicate or a
conflict; which status events are due; is the sandbox "unavailable"; which key to sign with.
"""

from adapters.sandbox.agency import (
    CaseInfo,
    Decision,
    ReceiptSigner,
    SandboxAgency,
    SubmitResult,
    UnknownCase,
)
from adapters.sandbox.config import Faults, SandboxConfig, Scenario, ScenarioName
from adapters.sandbox.script import SCRIPTS, Step
from adapters.sandbox.store import SandboxStore
from adapters.sandbox.timeline import REQUIRED_DOCUMENT_TYPE, SandboxEvent

__all__ = [
    "REQUIRED_DOCUMENT_TYPE",
    "SCRIPTS",
    "CaseInfo",
    "Decision",
    "Faults",
    "ReceiptSigner",
    "SandboxAgency",
    "SandboxConfig",
    "SandboxEvent",
    "SandboxStore",
    "Scenario",
    "ScenarioName",
    "Step",
    "SubmitResult",
    "UnknownCase",
]
