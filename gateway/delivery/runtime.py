"""What a gateway process holds once: settings, store, agency directory, trust, clients."""

from __future__ import annotations

import os
import socket
import threading
from dataclasses import dataclass
from functools import cached_property

import httpx
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from gateway.agencies.directory import Agency, AgencyDirectory, DirectoryError
from gateway.config import Settings, settings
from gateway.notify import webhook
from gateway.notify.events import GUANGDONG
from gateway.outbox.policy import BreakerPolicy, RetryPolicy
from gateway.ports import AgencyClient
from gateway.privacy import keyring
from gateway.registry import client_factory
from gateway.store import ensure_schema, make_engine, session_factory
from signing import KeyDirectory, TrustStore


@dataclass(frozen=True)
class WebhookDestination:
    """Guangdong's notification webhook as an outbox destination: where, with which secret,
    and the same policy fields an :class:`Agency` has (concurrency, retry, breaker, timeout).
    ``url`` or ``secret`` empty: not configured, its rows stay pending."""

    code: str
    url: str
    secret: str | None
    timeout: float
    concurrency: int
    retry: RetryPolicy
    breaker: BreakerPolicy

    @property
    def ready(self) -> bool:
        return bool(self.url and self.secret)


Destination = Agency | WebhookDestination


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
        size = self.settings.db_pool_size
        engine = make_engine(self.settings.database_url, pool_size=size, max_overflow=size)
        keyring.bind(engine, keyring.load(self.settings))  # this deployment's data keys
        return engine

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

    @cached_property
    def webhook(self) -> WebhookDestination:
        """The notification webhook, from ``GBAGW_NOTIFY_*``. Without ``GBAGW_NOTIFY_SECRET``
        the key directory's secret file is used; the embedded mode (no broker URL) creates it.
        """
        s = self.settings
        secret = None
        if s.notify_url:
            secret = webhook.load_secret(s.notify_secret, s.keys, create=not s.broker_url)
        return WebhookDestination(
            code=GUANGDONG,
            url=s.notify_url,
            secret=secret,
            timeout=s.notify_timeout,
            concurrency=s.notify_concurrency,
            retry=RetryPolicy(
                base_delay=s.notify_retry_base_delay,
                factor=2.0,
                cap=max(s.notify_retry_cap, s.notify_retry_base_delay),
                jitter=0.2,
                max_attempts=s.notify_max_attempts,
            ),
            breaker=BreakerPolicy(
                threshold=s.notify_breaker_threshold, cooldown=s.notify_breaker_cooldown
            ),
        )

    def destination(self, name: str) -> Destination:
        """The policy (concurrency, retry, breaker, timeout) of an outbox destination: the
        notification webhook, or an agency of the directory."""
        if name == GUANGDONG:
            return self.webhook
        return self.agency(name)

    def retry_policy(self, destination: str) -> RetryPolicy:
        """The destination's retry policy; the default one for a destination no longer in the
        directory (its rows still need a bound on attempts)."""
        try:
            return self.destination(destination).retry
        except DirectoryError:
            return RetryPolicy()

    @cached_property
    def webhook_client(self) -> httpx.Client:
        """One connection pool for the webhook, shared by the process's threads."""
        return httpx.Client(timeout=self.webhook.timeout, follow_redirects=False)

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
        if "webhook_client" in self.__dict__:
            self.webhook_client.close()
            del self.__dict__["webhook_client"]
        if "engine" in self.__dict__:
            self.engine.dispose()
