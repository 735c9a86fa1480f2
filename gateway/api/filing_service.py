"""The app's one :class:`~gateway.cases.filing.Filing`: built on first use, shared by threads.

The pipeline (catalogue, mappings, schemas) is built once. The gateway's signing key is
loaded once too — a key passed around as PEM signs 50× slower (measured-facts.md) — and
looked up again every few minutes, so a rotated key is taken up without a restart.
"""

from __future__ import annotations

import logging
import threading
import time

from fastapi import Request

from gateway.api.refusals import Refused
from gateway.cases.filing import Filing
from gateway.delivery.runtime import Runtime
from gateway.render.pipeline import Pipeline
from signing import SigningKey

log = logging.getLogger(__name__)

#: seconds between look-ups of the gateway's current signing key
KEY_REFRESH = 300.0

_building = threading.Lock()


class FilingService:
    def __init__(self, runtime: Runtime):
        self.sessions = runtime.sessions
        self.pipeline = Pipeline()
        self._keys = runtime.keys
        self._lock = threading.Lock()
        self._filing: Filing | None = None
        self._loaded_at = 0.0

    def filing(self) -> Filing:
        """The Filing, with the gateway's current key; :class:`Refused` (503) without one."""
        with self._lock:
            if self._filing is None or time.monotonic() - self._loaded_at > KEY_REFRESH:
                self._loaded_at = time.monotonic()
                try:
                    key = self._keys.gateway_key()
                except (OSError, KeyError, ValueError) as exc:
                    log.error("no valid gateway signing key in %s: %s", self._keys.path, exc)
                    if self._filing is None:
                        raise Refused(503, "the gateway has no valid signing key") from None
                else:
                    self._filing = Filing(self.pipeline, key, self.sessions)
            return self._filing

    def key(self) -> SigningKey:
        return self.filing().key


def filing_service(request: Request) -> FilingService:
    """The app's service (``app.state.filing_service``), built by the first request."""
    state = request.app.state
    with _building:
        if getattr(state, "filing_service", None) is None:
            state.filing_service = FilingService(state.runtime)
    service: FilingService = state.filing_service
    return service
