"""``POST /v1/applications`` under load: 50 concurrent platform clients on PostgreSQL.

    .venv/bin/python bench/api.py [--requests 2000] [--concurrency 50] [--workers N]

A real ``gbagw api`` (``--workers``: one process per core by default) serves a throwaway
PostgreSQL database (``gateway.devkit.cluster`` in its PostgreSQL mode, no worker running, so
only intake is measured: validate, convert,
render, sign, and store case + message + outbox row in one transaction). The load comes from
this process over loopback with ``httpx`` (one connection per client, keep-alive).

Prints requests/s and p50/p95/p99 latency beside the targets (p95 ≤ 50 ms, ≥ 300 requests/s
on this machine's 2 cores), and how many answers were not 201. The bench does not assert
the targets; other load on the machine counts against every figure.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # bench/signing.py shadows signing

import httpx  # noqa: E402

from gateway.devkit.cluster import Cluster, synthetic_applications, wait_for_port  # noqa: E402

TARGETS = {"rps": 300.0, "p95": 50.0}


async def load(
    url: str, token: str, applications: list[dict[str, Any]], concurrency: int
) -> tuple[list[float], dict[int, int], float]:
    queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    for application in applications:
        queue.put_nowait(application)
    latencies: list[float] = []
    statuses: dict[int, int] = {}

    async def client() -> None:
        headers = {"Authorization": f"Bearer {token}"}
        async with httpx.AsyncClient(base_url=url, headers=headers, timeout=60) as http:
            while not queue.empty():
                application = queue.get_nowait()
                started = time.perf_counter()
                response = await http.post("/v1/applications", json=application)
                latencies.append(time.perf_counter() - started)
                statuses[response.status_code] = statuses.get(response.status_code, 0) + 1

    began = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(concurrency)))
    return latencies, statuses, time.perf_counter() - began


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument(
        "--workers", type=int, default=os.cpu_count() or 1, help="gbagw api processes"
    )
    args = parser.parse_args()

    from gateway.store import transaction
    from gateway.store.clients import Role, add_client

    # one platform client files everything: its rate limit would measure the limiter
    unlimited = {"GBAGW_API_RATE": "0", "GBAGW_API_WORKERS": str(args.workers)}
    with (
        tempfile.TemporaryDirectory() as tmp,
        # only the api role: no worker, relay or sandbox delivering meanwhile
        Cluster(Path(tmp), "rabbitmq", extra_env=unlimited) as c,
    ):
        with transaction(c.runtime.sessions) as session:
            _, token = add_client(session, "bench-platform", Role.parse("platform"))
        c.start("api")
        wait_for_port(c.api_port)
        url = f"http://127.0.0.1:{c.api_port}"
        warm = synthetic_applications(args.concurrency, tag="WARM")
        asyncio.run(load(url, token, warm, args.concurrency))
        applications = synthetic_applications(args.requests)
        latencies, statuses, elapsed = asyncio.run(load(url, token, applications, args.concurrency))
    ms = [x * 1000 for x in latencies]
    rps = len(latencies) / elapsed
    print(
        f"POST /v1/applications, {len(latencies)} requests, {args.concurrency} clients, "
        f"{args.workers} api processes"
    )
    print(f"  throughput  {rps:8.1f} requests/s   (target >= {TARGETS['rps']:.0f})")
    print(f"  p50         {statistics.median(ms):8.1f} ms")
    print(f"  p95         {percentile(ms, 0.95):8.1f} ms         (target <= {TARGETS['p95']:.0f})")
    print(f"  p99         {percentile(ms, 0.99):8.1f} ms")
    print(f"  statuses    {dict(sorted(statuses.items()))}")


if __name__ == "__main__":
    main()
