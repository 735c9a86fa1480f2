"""``/metrics`` for Prometheus: request counts and latencies, and the store's queues read at
scrape time (outbox rows per state, quarantined documents, cases per state).

Store figures are read when scraped rather than counted in-process, so every API process
reports the same truth whatever the workers did. Each app has its own registry (tests and
embedded runs create several apps in one process).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.exposition import generate_latest
from prometheus_client.registry import Collector
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from gateway.api.auth import Caller, authenticated
from gateway.outbox import counts
from gateway.store import transaction
from gateway.store.tables import Case, Message
from gateway.store.vocab import Direction

router = APIRouter(tags=["operations"])


class StoreCollector(Collector):
    def __init__(self, sessions: sessionmaker[Session]):
        self._sessions = sessions

    def collect(self) -> Iterator[GaugeMetricFamily]:
        with transaction(self._sessions, read_only=True) as session:
            outbox = counts(session)
            quarantined = session.scalar(
                select(func.count())
                .select_from(Message)
                .where(Message.direction == Direction.IN, Message.verified.is_(False))
            )
            per_state = session.execute(select(Case.state, func.count()).group_by(Case.state))
            cases: dict[str, int] = {state: count for state, count in per_state}
        outbox_rows = GaugeMetricFamily(
            "gbagw_outbox_rows", "Outbox rows per state", labels=["state"]
        )
        for state, count in outbox.items():
            outbox_rows.add_metric([state], count)
        yield outbox_rows
        yield GaugeMetricFamily(
            "gbagw_inbound_quarantined", "Received documents never applied", value=quarantined or 0
        )
        case_rows = GaugeMetricFamily("gbagw_cases", "Cases per state", labels=["state"])
        for state, count in sorted(cases.items()):
            case_rows.add_metric([state], count)
        yield case_rows


class Metrics:
    """One app's registry: request counters and the store's figures."""

    def __init__(self, sessions: sessionmaker[Session]):
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "gbagw_http_requests",
            "HTTP requests by route template and status",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "gbagw_http_request_seconds",
            "HTTP request latency by route template",
            ["method", "route"],
            registry=self.registry,
        )
        self.registry.register(StoreCollector(sessions))


class RequestTimer:
    """ASGI middleware counting and timing every HTTP request into ``metrics``."""

    def __init__(self, app: Any, metrics: Metrics):
        self.app, self.metrics = app, metrics

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started, status = time.perf_counter(), [500]

        async def sending(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            # the template, not the path: unbounded label values would grow memory
            route = getattr(scope.get("route"), "path", "unmatched")
            self.metrics.requests.labels(scope["method"], route, str(status[0])).inc()
            self.metrics.latency.labels(scope["method"], route).observe(
                time.perf_counter() - started
            )


@router.get(
    "/metrics",
    summary="Prometheus metrics",
    response_class=Response,
    responses={200: {"content": {CONTENT_TYPE_LATEST: {"schema": {"type": "string"}}}}},
)
def metrics(request: Request, _: Annotated[Caller, Depends(authenticated("operator"))]) -> Response:
    registry = request.app.state.metrics.registry
    return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)
