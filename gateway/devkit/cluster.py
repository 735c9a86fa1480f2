"""A whole gateway deployment on this machine, every part its own process: for tests and benches.

A :class:`Cluster` has its own key directory, its own store (a SQLite file, or a fresh
PostgreSQL database dropped at the end), its own broker queue prefix, sandbox agencies as
``gbagw sandbox`` processes on fixed loopback ports (so a restarted sandbox is found again),
and the gateway's roles as ``gbagw`` processes: ``run`` in the embedded mode, ``worker``,
``relay`` and ``beat`` in production. Each can be killed (SIGKILL) and restarted, which is what
crash, outage and broker-loss tests need. Filing and inspection happen in-process, through
the same store code the roles use.

With ``notify=True`` the roles are configured (``GBAGW_NOTIFY_*``) to send their notifications
to a Guangdong receiver, ``gbagw sandbox gd``, on its own fixed port with a secret of the
cluster's: :meth:`start_receiver` / :meth:`stop_receiver` run it, :meth:`received` reads what it
verified and recorded.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import SecretStr

from gateway.config import Settings
from gateway.privacy.keyring import new_key_entry

Mode = Literal["embedded", "rabbitmq", "redis"]
MODES: tuple[Mode, ...] = ("embedded", "rabbitmq", "redis")
POSTGRES_ADMIN = os.environ.get(
    "GBAGW_TEST_POSTGRES", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
BROKERS = {
    "rabbitmq": "amqp://guest:guest@127.0.0.1:5672//",
    "redis": "redis://127.0.0.1:6379/0",
}
GBAGW = str(Path(sys.executable).with_name("gbagw"))
RECEIVER = "receiver-GD"
#: notification retries for tests: quick, and never dead while a receiver is down for a while
FAST_NOTIFY = {
    "GBAGW_NOTIFY_TIMEOUT": "5",
    "GBAGW_NOTIFY_RETRY_BASE_DELAY": "0.2",
    "GBAGW_NOTIFY_RETRY_CAP": "1.0",
    "GBAGW_NOTIFY_MAX_ATTEMPTS": "1000",
    "GBAGW_NOTIFY_BREAKER_COOLDOWN": "0.5",
}


def synthetic_applications(count: int, *, tag: str | None = None) -> list[dict[str, Any]]:
    """``count`` distinct valid applications: the bundled examples under new numbers."""
    from gateway.devkit.examples import bundled_examples

    examples = [json.loads(p.read_text("utf-8")) for p in bundled_examples()]
    tag = tag or uuid.uuid4().hex[:8].upper()
    return [
        {**examples[i % len(examples)], "applicationNo": f"T{tag}-{i:06d}"} for i in range(count)
    ]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for_port(port: int, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return
        time.sleep(0.05)
    raise TimeoutError(f"nothing answers on 127.0.0.1:{port} after {timeout:g}s")


@dataclass
class Cluster:
    root: Path
    mode: Mode = "embedded"
    worker_concurrency: int = 4
    pool: str = "threads"  # of `gbagw worker`; prefork is the production default
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    sandbox_ports: dict[str, int] = field(default_factory=dict)
    #: the gateway's HTTP service (`gbagw api`, or the one `gbagw run` serves): fixed, so a
    #: sandbox started before it knows where to push
    api_port: int = field(default_factory=lambda: free_port())
    extra_env: dict[str, str] = field(default_factory=dict)
    #: False: agencies neither push nor are polled, so a case stays ``delivered`` — for tests
    #: of delivery alone
    reconcile: bool = False
    #: with ``reconcile``: seconds between poll runs and between two asks about a case, and
    #: the silence after which an agency that pushes (HK) is pulled
    poll_seconds: float = 1.0
    pull_after_seconds: float = 3.0
    #: True: notifications go to the Guangdong receiver (:meth:`start_receiver`)
    notify: bool = False
    receiver_port: int = field(default_factory=lambda: free_port())

    def __post_init__(self) -> None:
        from signing import KeyDirectory

        self.root.mkdir(parents=True, exist_ok=True)
        self.name = f"gbagw_t{uuid.uuid4().hex[:10]}"
        self.data_keys = new_key_entry()  # one deployment: every role gets the same key
        self.keys = KeyDirectory(self.root / "keys")
        if not self.keys.trust_file.exists():
            self.keys.init()
        if self.mode == "embedded":
            self.database_url = f"sqlite:///{self.root / 'gateway.db'}"
        else:
            from gateway.store import upgrade

            self.database_url = self._create_database()
            upgrade(self.database_url)  # what an operator runs once: `gbagw db upgrade`
        self._runtime: Any = None
        self._filing: Any = None
        self._push_tokens_by_region: dict[str, dict[str, str]] = {}
        from gateway.notify.webhook import new_secret

        self.notify_secret = new_secret()

    # --- configuration ----------------------------------------------------------------------

    @property
    def settings(self) -> Settings:
        return Settings(
            keys=self.keys.path,
            database_url=self.database_url,
            broker_url=BROKERS.get(self.mode, ""),
            agencies=self.root / "agencies.yaml",
            queue=self.name,
            worker_concurrency=self.worker_concurrency,
            lease_seconds=20.0,
            sweep_interval=1.0,
            api_port=self.api_port,
            data_keys=SecretStr(self.data_keys),
        )

    def env(self) -> dict[str, str]:
        s = self.settings
        values = {
            "GBAGW_KEYS": str(s.keys),
            "GBAGW_DATABASE_URL": s.database_url,
            "GBAGW_BROKER_URL": s.broker_url,
            "GBAGW_AGENCIES": str(s.agencies),
            "GBAGW_QUEUE": s.queue,
            "GBAGW_WORKER_CONCURRENCY": str(s.worker_concurrency),
            "GBAGW_LEASE_SECONDS": str(s.lease_seconds),
            "GBAGW_SWEEP_INTERVAL": str(s.sweep_interval),
            "GBAGW_API_PORT": str(s.api_port),
            "GBAGW_DATA_KEYS": s.data_keys.get_secret_value(),
        }
        if not self.reconcile:  # nobody is ever due for a poll or a pull
            values["GBAGW_POLL_BASE_SECONDS"] = values["GBAGW_POLL_MAX_SECONDS"] = "1e9"
            values["GBAGW_PULL_AFTER_SECONDS"] = "1e9"
        else:
            values["GBAGW_POLL_INTERVAL"] = str(self.poll_seconds / 2)
            values["GBAGW_POLL_BASE_SECONDS"] = str(self.poll_seconds)
            values["GBAGW_POLL_MAX_SECONDS"] = str(self.poll_seconds)
            values["GBAGW_PULL_AFTER_SECONDS"] = str(self.pull_after_seconds)
        if self.notify:
            values["GBAGW_NOTIFY_URL"] = self.notify_url
            values["GBAGW_NOTIFY_SECRET"] = self.notify_secret
            values.update(FAST_NOTIFY)
        base = {k: v for k, v in os.environ.items() if not k.startswith("GBAGW_")}
        return {**base, **values, **self.extra_env}

    def _create_database(self) -> str:
        from sqlalchemy import create_engine, text

        admin = create_engine(POSTGRES_ADMIN, isolation_level="AUTOCOMMIT")
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{self.name}"'))
        admin.dispose()
        return POSTGRES_ADMIN.rsplit("/", 1)[0] + f"/{self.name}"

    def _drop_database(self) -> None:
        from sqlalchemy import create_engine, text

        admin = create_engine(POSTGRES_ADMIN, isolation_level="AUTOCOMMIT")
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)'))
        admin.dispose()

    # --- sandbox agencies -------------------------------------------------------------------

    def start_sandbox(self, region: str, **settings: Any) -> str:
        """Start (or restart, on the same port) the sandbox agency of ``region``.

        ``settings`` go into its YAML config (``faults={...}``, ``scenario=...``); the sandbox
        keeps its SQLite store across restarts, as an agency remembers what it received. A
        region with a push receiver installed pushes to the gateway's HTTP service.
        """
        region = region.upper()
        port = self.sandbox_ports.setdefault(region, free_port())
        push = self.push_url(region)
        config = {
            "region": region,
            "keys_dir": str(self.keys.path),
            "database": str(self.root / f"sandbox-{region.lower()}.db"),
            **({"push_url": push, "push_tokens": self._push_tokens(region)} if push else {}),
            **settings,
        }
        path = self.root / f"sandbox-{region.lower()}.yaml"
        path.write_text(yaml.safe_dump(config), encoding="utf-8")
        self._spawn(
            f"sandbox-{region}",
            ["sandbox", region.lower(), "--config", str(path)],
            ["--port", str(port)],
        )
        wait_for_port(port)
        self._write_agencies()
        return f"http://127.0.0.1:{port}"

    def _push_tokens(self, region: str) -> dict[str, str]:
        """A bearer token for each of the region's agencies: pushes come from agency clients,
        as in production. Issued once per cluster, so a restarted sandbox keeps its credential
        as an agency does (re-issuing at each start revoked the token of the sandbox still
        running until the restart stopped it)."""
        from gateway.agencies.directory import AgencyDirectory
        from gateway.store import transaction
        from gateway.store.clients import sandbox_push_tokens

        if region not in self._push_tokens_by_region:
            codes = [a.code for a in AgencyDirectory.load(None) if a.format == region]
            with transaction(self.runtime.sessions) as session:
                self._push_tokens_by_region[region] = sandbox_push_tokens(
                    session, codes, holder=f"cluster-{region.lower()}"
                )
        return self._push_tokens_by_region[region]

    def reserve_sandbox(self, region: str) -> str:
        """Fix the region's sandbox port and list its agencies in the directory without
        starting it: roles started now find it once :meth:`start_sandbox` runs it."""
        port = self.sandbox_ports.setdefault(region.upper(), free_port())
        self._write_agencies()
        return f"http://127.0.0.1:{port}"

    def push_url(self, region: str) -> str | None:
        """Where the region's sandbox pushes (None: the region has no push receiver)."""
        from gateway.registry import installed_receivers, receiver_factory

        if not self.reconcile or region.upper() not in installed_receivers():
            return None
        # a receiver only reads its Inbound per request: built without one, it tells its path
        path = receiver_factory(region.upper())(None).state.push_path
        return f"http://127.0.0.1:{self.api_port}{path}"

    # --- the Guangdong receiver of notifications -----------------------------------------

    @property
    def notify_url(self) -> str:
        from gateway.devkit.gd_receiver import PATH

        return f"http://127.0.0.1:{self.receiver_port}{PATH}"

    def start_receiver(self, *, unavailable_seconds: float = 0.0) -> str:
        """Start (or restart, on the same port and SQLite file) ``gbagw sandbox gd``, which
        verifies each notification with the cluster's secret and records it once."""
        self._spawn(
            RECEIVER,
            ["sandbox", "gd", "--port", str(self.receiver_port)],
            [
                "--db",
                str(self.root / "receiver-gd.db"),
                "--unavailable-seconds",
                str(unavailable_seconds),
            ],
        )
        wait_for_port(self.receiver_port)
        return self.notify_url

    def stop_receiver(self) -> None:
        """The receiver goes down (SIGKILL): notifications fail until it is started again."""
        self.kill(RECEIVER)

    def received(self, case_ref: str | None = None) -> list[dict[str, Any]]:
        """What the receiver verified and recorded, in arrival order (its ``/events``): each
        ``{"id", "type", "caseRef", "seq", "inOrder", "repeats", "event"}``."""
        import httpx

        base = f"http://127.0.0.1:{self.receiver_port}/events"
        params = {"caseRef": case_ref} if case_ref else None
        answer = httpx.get(base, params=params, timeout=10)
        answer.raise_for_status()
        return list(answer.json())

    def receiver_stats(self) -> dict[str, int]:
        """The receiver's request counts: accepted, refused (bad signature), unavailable…"""
        import httpx

        answer = httpx.get(f"http://127.0.0.1:{self.receiver_port}/stats", timeout=10)
        answer.raise_for_status()
        return dict(answer.json())

    def sandbox_store(self, region: str) -> Any:
        from adapters.sandbox.store import SandboxStore  # devkit: tests may name the sandbox

        return SandboxStore(self.root / f"sandbox-{region.lower()}.db")

    def _write_agencies(self) -> None:
        from gateway.agencies.directory import AgencyDirectory

        bundled = AgencyDirectory.load(None)
        agencies = {}
        for agency in bundled:
            region = agency.sandbox_region or agency.format
            if region in self.sandbox_ports:
                url = f"http://127.0.0.1:{self.sandbox_ports[region]}"
                agencies[agency.code] = {"format": agency.format, "url": url, "timeout": 5}
        document = {
            "defaults": {
                "retry": {
                    "base_delay": 0.5,
                    "factor": 2,
                    "cap": 4,
                    "jitter": 0.2,
                    "max_attempts": 30,
                },
                "breaker": {"threshold": 5, "cooldown": 2},
            },
            "agencies": agencies,
        }
        path = self.root / "agencies.yaml"
        text = yaml.safe_dump(document)
        if not path.exists() or path.read_text("utf-8") != text:
            # atomically: a running role may read the directory at any moment
            staged = path.with_name(f".agencies-{uuid.uuid4().hex}.yaml")
            staged.write_text(text, encoding="utf-8")
            staged.replace(path)

    # --- gateway roles ----------------------------------------------------------------------

    @property
    def roles(self) -> tuple[str, ...]:
        return ("run",) if self.mode == "embedded" else ("worker", "relay", "beat", "api")

    def start(self, *roles: str) -> None:
        """Start the given roles (default: every role of the mode)."""
        for role in roles or self.roles:
            if role == "worker":
                args = ["worker", "--pool", self.pool]
            elif role == "api":
                args = ["api", "--port", str(self.api_port), "--loglevel", "warning"]
            else:
                args = [role]
            self._spawn(role, args)

    def kill(self, name: str, sig: int = signal.SIGKILL) -> None:
        process = self.processes.pop(name, None)
        if process is None or process.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, sig)  # the role and any pool children it forked
        process.wait(timeout=30)

    def _spawn(self, name: str, args: list[str], extra: list[str] | None = None) -> None:
        self.kill(name, signal.SIGKILL)
        log = open(self.root / f"{name}.log", "ab")  # noqa: SIM115 - owned by the process
        self.processes[name] = subprocess.Popen(
            [GBAGW, *args, *(extra or [])],
            cwd=self.root,
            env=self.env(),
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: kill reaches pool children
        )

    # --- filing and inspection, in-process --------------------------------------------------

    @property
    def runtime(self) -> Any:
        if self._runtime is None:
            from gateway.delivery.runtime import Runtime

            self._runtime = Runtime(self.settings)
        return self._runtime

    @property
    def filing(self) -> Any:
        """The in-process :class:`~gateway.cases.filing.Filing`, built once (pipeline, key)."""
        if self._filing is None:
            from gateway.cases.filing import Filing
            from gateway.render.pipeline import Pipeline

            self._filing = Filing(Pipeline(), self.keys.gateway_key(), self.runtime.sessions)
        return self._filing

    def file(self, applications: Iterable[dict[str, Any]]) -> list[str]:
        """File applications in-process (as ``gbagw file`` does); return their case refs."""
        filing = self.filing
        return [filing.file(app).case_ref for app in applications]

    def pending(self) -> int:
        """Deliveries to agencies still pending or sending."""
        states = self.outbox_states()
        return states["pending"] + states["sending"]

    def wait_settled(self, timeout: float = 120.0) -> bool:
        """True once no delivery to an agency is pending or sending; False when ``timeout``
        passed first."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.pending() == 0:
                return True
            time.sleep(0.2)
        return False

    def wait_notified(self, timeout: float = 120.0) -> bool:
        """True once no notification to Guangdong is pending or sending; False when
        ``timeout`` passed first."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            states = self.notification_states()
            if states["pending"] + states["sending"] == 0:
                return True
            time.sleep(0.2)
        return False

    def outbox_states(self) -> dict[str, int]:
        """Outbox rows per state, deliveries to agencies only (submissions, supplements):
        notifications to Guangdong, which the agencies' pushes now cause, have a webhook of
        their own and wait for it (see :meth:`notification_states`)."""
        return self._states(agencies=True)

    def notification_states(self) -> dict[str, int]:
        return self._states(agencies=False)

    def _states(self, *, agencies: bool) -> dict[str, int]:
        from sqlalchemy import func, select

        from gateway.store import transaction
        from gateway.store.tables import Outbox
        from gateway.store.vocab import OutboxKind, OutboxState

        notification = Outbox.kind == OutboxKind.NOTIFICATION
        with transaction(self.runtime.sessions, read_only=True) as session:
            rows = session.execute(
                select(Outbox.state, func.count())
                .where(~notification if agencies else notification)
                .group_by(Outbox.state)
            )
            found = {state: count for state, count in rows}
        return {state.value: found.get(state.value, 0) for state in OutboxState}

    def log(self, name: str) -> str:
        path = self.root / f"{name}.log"
        return path.read_text("utf-8", errors="replace") if path.exists() else ""

    # --- the end ----------------------------------------------------------------------------

    def close(self) -> None:
        for name in list(self.processes):
            self.kill(name, signal.SIGKILL)
        if self._runtime is not None:
            self._runtime.close()
        if self.mode != "embedded":
            self._drop_database()
            self._purge_queues()

    def _purge_queues(self) -> None:
        """Delete this cluster's broker queues (RabbitMQ keeps quorum queues otherwise)."""
        if self.mode != "rabbitmq":
            return
        from kombu import Connection

        with contextlib.suppress(Exception), Connection(BROKERS["rabbitmq"]) as connection:
            channel = connection.default_channel
            for queue in (f"{self.name}.deliveries", f"{self.name}.dead-letters"):
                channel.queue_delete(queue)

    def __enter__(self) -> Cluster:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@contextlib.contextmanager
def cluster(root: Path, mode: Mode = "embedded", **kwargs: Any) -> Iterator[Cluster]:
    """A cluster with both sandbox agencies (and, with ``notify=True``, the Guangdong
    receiver) started and every role of ``mode`` running."""
    with Cluster(root, mode, **kwargs) as c:
        c.start_sandbox("HK")
        c.start_sandbox("MO")
        if c.notify:
            c.start_receiver()
        c.start()
        yield c
