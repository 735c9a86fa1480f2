"""``create_app(runtime)``: the gateway's one FastAPI app.

Every installed push receiver (entry-point group ``gba_gateway.receivers``) is mounted at
``/`` (a FastAPI receiver's routes are included, so routes added later are not shadowed), so
each serves the path its spec gives (HK: ``/cbce/v1/status-notices``); all of them
feed the same :class:`~gateway.inbound.receive.Inbound`. ``/healthz`` says the process is up,
``/readyz`` that the store and the broker answer. The routes of the platform, the agencies,
the catalogue and operators come from their modules in ``gateway/api/``. A receiver's routes
admit only ``agency`` clients while ``GBAGW_API_PUSH_AUTH`` is on; every request passes
:class:`~gateway.api.guard.Guard` and every write is recorded by :class:`~gateway.api.audit.Audit`.
"""

from __future__ import annotations

import logging
from importlib.metadata import version
from typing import TYPE_CHECKING, Any

from fastapi import Depends, FastAPI
from fastapi.responses import JSONResponse
from kombu import Connection
from sqlalchemy import text
from starlette.concurrency import run_in_threadpool

from gateway.api import agencies, catalogue, metrics, operations, platform
from gateway.api.audit import Audit
from gateway.api.auth import authenticated
from gateway.api.guard import Guard
from gateway.api.limits import RateLimiter
from gateway.api.openapi import complete_description
from gateway.inbound.receive import Inbound
from gateway.registry import installed_receivers, receiver_factory

if TYPE_CHECKING:
    from gateway.delivery.runtime import Runtime

log = logging.getLogger(__name__)


def create_app(runtime: Runtime, *, inbound: Inbound | None = None) -> FastAPI:
    """The gateway's HTTP app over ``runtime``'s store and trust."""
    inbound = inbound or Inbound(
        runtime.sessions, runtime.trust, max_bytes=runtime.settings.max_input_bytes
    )
    app = FastAPI(
        title="GBA cross-border case gateway", version=version("gba-gateway"), redoc_url=None
    )
    app.state.runtime = runtime
    app.state.inbound = inbound

    @app.get("/healthz")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz")
    async def readyz() -> Any:
        try:
            await run_in_threadpool(_ping, runtime)
        except Exception as exc:  # noqa: BLE001 - any failure means not ready
            log.warning("not ready: %s", type(exc).__name__)
            return JSONResponse(
                {"status": "unavailable", "reason": type(exc).__name__}, status_code=503
            )
        return {"status": "ready"}

    app.state.metrics = metrics.Metrics(runtime.sessions)
    app.add_middleware(metrics.RequestTimer, metrics=app.state.metrics)
    for routes in (platform, agencies, catalogue, operations, metrics):
        app.include_router(routes.router)

    #: region → the path its receiver takes pushes on (a sandbox's ``push_url``)
    app.state.push_paths = {}
    # an agency pushes with its own client's token; Inbound checks it signed what it pushed
    push_auth = [Depends(authenticated("agency"))] if runtime.settings.api_push_auth else []
    for region in installed_receivers():
        receiver = receiver_factory(region)(inbound)
        path = getattr(getattr(receiver, "state", None), "push_path", None)
        if path:
            app.state.push_paths[region] = path
        if isinstance(receiver, FastAPI):  # its routes join ours: later routes are not shadowed
            app.include_router(receiver.router, dependencies=push_auth)
        elif push_auth:
            raise TypeError(f"the {region} receiver is not a FastAPI app: no bearer check fits")
        else:  # any other ASGI app takes every path not matched before it
            app.mount("/", receiver, name=f"receiver-{region.lower()}")

    settings = runtime.settings
    app.state.rate_limiter = RateLimiter(settings.api_rate, settings.api_burst)
    app.add_middleware(
        Guard, max_body_bytes=settings.api_max_body_bytes, body_timeout=settings.api_body_timeout
    )
    app.add_middleware(Audit, sessions=runtime.sessions)  # outermost: refusals are audited too
    complete_description(app)
    return app


def app_from_environment() -> FastAPI:
    """The app over a runtime configured by the environment: what each process of
    ``gbagw api --workers N`` builds for itself (uvicorn imports this factory by name)."""
    from gateway import heap
    from gateway.config import settings
    from gateway.delivery.runtime import Runtime
    from gateway.privacy.masking import configure_logging

    configure_logging(settings().log_level)  # a spawned worker never ran the CLI's main
    app = create_app(Runtime())
    heap.settle()  # this process builds no other app
    return app


def _ping(runtime: Runtime) -> None:
    with runtime.engine.connect() as connection:
        connection.execute(text("SELECT 1"))
    broker = runtime.settings.broker_url
    if broker:  # production: the relay publishes here; the embedded broker is in-process
        with Connection(broker, connect_timeout=2) as connection:
            connection.ensure_connection(max_retries=1)
