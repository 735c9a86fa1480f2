"""What a gateway process holds once: settings, store, agency directory, trust, clients."""

from __future__ import annotations

import os
import socket
import threading
from functools import cached_property

from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from gateway.agencies.directory import Agency, AgencyDirectory
from gateway.config import Settings, settings
from gateway.ports import AgencyClient
from gateway.registry import client_factory
from gateway.store import ensure_schema, make_engine, session_factory
from signing import KeyDirectory, TrustStore


class Runtime:
    """One per process (worker, relay, embedded gateway); safe to share between threads.

    Clients are built once per agency and reused (connection pools, the parsed WSDL), so a
    delivery costs the call and not the set-up.
    """

    def __init__(self, config: Settings | None = None, directory: AgencyDirectory | None = None):
        self.settings = config or settings()
        self._directory = directory
        self._clients: dict[str, AgencyClient] = {}
        self._lock = threading.Lock()
        self.worker = f"{socket.gethostname()}:{os.getpid()}"

    @cached_property
    def engine(self) -> Engine:
        ensure_schema(self.settings.database_url)
        return make_engine(self.settings.database_url)

    @cached_property
    def sessions(self) -> sessionmaker[Session]:
        return session_factory(self.engine)

    @cached_property
    def directory(self) -> AgencyDirectory:
        return self._directory or AgencyDirectory.load(self.settings.agencies)

    @cached_property
    def keys(self) -> KeyDirectory:
        return KeyDirectory(self.settings.keys)

    @cached_property
    def trust(self) -> TrustStore:
        return self.keys.trust_store()

    def agency(self, code: str) -> Agency:
        return self.directory.get(code)

    def client(self, code: str) -> AgencyClient:
        with self._lock:
            client = self._clients.get(code)
            if client is None:
                agency = self.agency(code)
                client = client_factory(agency.format)(
                    agency.url, self.trust, agency=code, timeout=agency.timeout
                )
                self._clients[code] = client
            return client

    def close(self) -> None:
        with self._lock:
            for client in self._clients.values():
                client.close()
            self._clients.clear()
        if "engine" in self.__dict__:
            self.engine.dispose()
