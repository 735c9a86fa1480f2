"""End to end on this machine: filing → broker → worker → sandbox agency → verified receipt.

    .venv/bin/python bench/e2e.py [--cases 1000] [--mode rabbitmq|redis|embedded]
        [--pool prefork|threads] [--concurrency K] [--filers F] [--waits]

A whole deployment runs as real processes (``gateway.devkit.cluster``): PostgreSQL and the
broker (or SQLite and ``gbagw run`` in the embedded mode), the worker, relay and beat roles,
and both sandbox agencies (HK and MO), all on this machine's cores. ``F`` filing processes
post the applications as fast as they can, as a platform posting applications would, each
through its own ``Filing`` (pipeline, key, store connection).

Prints:

- throughput: cases per second from the first filing to the last verified receipt stored
  (the outbox row delivered, the agency's signed receipt verified and recorded);
- filing latency p50/p95: per ``Filing.file`` call, measured in the filing processes;
- worker RSS: peak resident memory (VmHWM) of the worker process and of each pool child,
  the largest one and their sum (embedded: the ``gbagw run`` process);
- CPU milliseconds per case by process during the measured window (from /proc): each role,
  the filers, the sandboxes, this database's PostgreSQL backends, PostgreSQL's shared
  processes (WAL writer, checkpointer …) and RabbitMQ. Another load on PostgreSQL or RabbitMQ
  (a test run) counts in their shared rows.

Targets are printed beside the figures; the bench does not assert them. Other load on the
machine counts against every figure: compare runs made in one sitting.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # bench/signing.py shadows signing

from bench.pg_waits import WaitSampler  # noqa: E402
from bench.proc_cpu import CpuWindow, children, pids_matching, vm_hwm_mb  # noqa: E402
from gateway.devkit.cluster import Cluster, cluster, synthetic_applications  # noqa: E402

TARGETS = {"throughput": 150.0, "p95": 50.0, "rss": 150.0}


def filer(
    settings: dict, applications: list[dict], ready: mp.Barrier, results: mp.Queue
) -> None:  # pragma: no cover - runs in a child process
    """File ``applications`` one by one; put (per-call seconds, first start, last end)."""
    from gateway.cases.filing import Filing
    from gateway.config import Settings
    from gateway.delivery.runtime import Runtime
    from gateway.render.pipeline import Pipeline

    runtime = Runtime(Settings(**settings))
    filing = Filing(Pipeline(), runtime.keys.gateway_key(), runtime.sessions)
    filing.file(applications[0])  # warm: connection, caches (counted in the total, not timed)
    ready.wait()
    latencies = []
    begin, cpu = time.perf_counter(), time.process_time()
    for application in applications[1:]:
        t = time.perf_counter()
        filing.file(application)
        latencies.append(time.perf_counter() - t)
    results.put((latencies, begin, time.perf_counter(), time.process_time() - cpu))
    runtime.close()


def delivered(c: Cluster) -> int:
    return c.outbox_states().get("delivered", 0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", type=int, default=1000)
    parser.add_argument("--mode", choices=("rabbitmq", "redis", "embedded"), default="rabbitmq")
    parser.add_argument("--pool", choices=("prefork", "threads"), default="prefork")
    parser.add_argument("--concurrency", type=int, default=4, help="worker concurrency")
    parser.add_argument("--filers", type=int, default=4, help="concurrent filing processes")
    parser.add_argument("--timeout", type=float, default=600.0)
    parser.add_argument("--keep", action="store_true", help="keep the cluster directory")
    parser.add_argument(
        "--waits",
        action="store_true",
        help="sample what this database's PostgreSQL backends wait for (lock, WAL, client)",
    )
    args = parser.parse_args()

    root = Path(tempfile.mkdtemp(prefix="gbagw-e2e-"))
    applications = synthetic_applications(args.cases + args.filers)  # +1 warm-up each
    shares = [applications[i :: args.filers] for i in range(args.filers)]
    role = "run" if args.mode == "embedded" else "worker"
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    print(
        f"e2e: {args.cases} cases, mode {args.mode}, worker pool {args.pool} ×"
        f"{args.concurrency}, {args.filers} filing processes, {cores} cores; HK + MO sandboxes"
    )
    with cluster(root, args.mode, worker_concurrency=args.concurrency, pool=args.pool) as c:
        s = c.settings
        settings = {
            "keys": s.keys,
            "database_url": s.database_url,
            "broker_url": s.broker_url,
            "agencies": s.agencies,
            "queue": s.queue,
            # the deployment's data key: what the filers encrypt, the worker must decrypt
            "data_keys": s.data_keys.get_secret_value(),
        }
        context = mp.get_context("spawn")
        ready = context.Barrier(args.filers + 1)
        results = context.Queue()
        processes = [
            context.Process(target=filer, args=(settings, share, ready, results))
            for share in shares
        ]
        for p in processes:
            p.start()
        warm = args.filers  # each filer's first application
        deadline = time.monotonic() + 120
        while delivered(c) < warm and time.monotonic() < deadline:
            time.sleep(0.05)  # the roles are up and the warm-up cases went through
        window = CpuWindow(lambda: _groups(c))
        sample = args.waits and args.mode != "embedded"
        waits = WaitSampler(c.database_url, c.name) if sample else None
        ready.wait()
        window.start()
        if waits is not None:
            waits.start()
        start = time.perf_counter()
        done = delivered(c)
        peak: dict[int, float] = {}
        progress = [(0.0, done)]  # (seconds, delivered): the delivery rate during filing
        while done < args.cases + warm and time.perf_counter() - start < args.timeout:
            time.sleep(0.05)
            done = delivered(c)
            progress.append((time.perf_counter() - start, done))
            for pid in children(c.processes[role].pid):
                peak[pid] = max(peak.get(pid, 0.0), vm_hwm_mb(pid))
        elapsed = time.perf_counter() - start
        cpu = window.stop()
        if waits is not None:
            waits.stop()
        outs = [results.get(timeout=60) for _ in processes]
        for p in processes:
            p.join()
        states = c.outbox_states()
        for pid in children(c.processes[role].pid):
            peak[pid] = max(peak.get(pid, 0.0), vm_hwm_mb(pid))
        filing_end = max(o[2] for o in outs) - start
        if args.keep:
            print(f"cluster directory kept: {root}")
            c.close = lambda: None  # type: ignore[method-assign]

    cpu["filers"] = sum(o[3] for o in outs)
    latencies = sorted(x * 1000 for lat, *_ in outs for x in lat)
    p50 = statistics.median(latencies)
    p95 = latencies[int(0.95 * (len(latencies) - 1))]
    throughput = (done - warm) / elapsed
    main_pid = min(peak)
    rss_max = max(peak.values())
    rss_sum = sum(peak.values())
    print(f"outbox at the end: {states}; all filed after {filing_end:.1f}s")
    print(f"filing rate (filing alone, while delivering): {args.cases / filing_end:7.1f} cases/s")
    during = max(n for t, n in progress if t <= filing_end) - progress[0][1]
    after = done - warm - during
    print(
        f"delivery rate while filing {during / filing_end:7.1f} cases/s, after it"
        f" {after / max(elapsed - filing_end, 1e-9):7.1f} cases/s ({after} left to deliver)"
    )
    rows = [
        ("end-to-end throughput", f"{throughput:7.1f} cases/s", f">= {TARGETS['throughput']:g}"),
        ("filing latency p50", f"{p50:7.1f} ms", ""),
        ("filing latency p95", f"{p95:7.1f} ms", f"<= {TARGETS['p95']:g}"),
        (
            f"worker RSS peak, largest of {len(peak)} process(es)",
            f"{rss_max:7.1f} MB",
            f"<= {TARGETS['rss']:g}",
        ),
        ("worker RSS peak, sum (main + pool children)", f"{rss_sum:7.1f} MB", ""),
        ("worker RSS peak, main process", f"{peak[main_pid]:7.1f} MB", ""),
    ]
    width = max(len(r[0]) for r in rows)
    for name, value, target in rows:
        print(f"  {name:<{width}}  {value}   {('target ' + target) if target else ''}")
    cases = max(done - warm, 1)
    total = sum(cpu.values())
    print(
        f"CPU ms per case by process, measured window ({elapsed:.1f}s, {cores} cores ="
        f" {1000 * elapsed * (cores or 1) / cases:.1f} ms a case available):"
    )
    for name, seconds in sorted(cpu.items(), key=lambda kv: -kv[1]):
        print(f"  {name:<22} {1000 * seconds / cases:6.1f}")
    print(f"  {'total':<22} {1000 * total / cases:6.1f}")
    if waits is not None:
        print("PostgreSQL backends not idle, sampled every 20 ms (wait, statement):")
        print("\n".join(waits.report()))
    if done < args.cases + warm:
        print(f"  NOT SETTLED: {done - warm} of {args.cases} delivered after {elapsed:.0f}s")


def _groups(c: Cluster) -> dict[str, list[int]]:
    """The processes whose CPU the bench reports, by name."""
    groups = {name: children(process.pid) for name, process in c.processes.items()}
    if "worker" in groups:  # Celery's consumer apart from the pool that runs the tasks
        main, *pool = groups.pop("worker")
        groups["worker (main)"], groups["worker (pool)"] = [main], pool
    groups["postgres (this db)"] = pids_matching(lambda cmd: f" {c.name} " in cmd)
    groups["postgres (shared)"] = pids_matching(
        lambda cmd: cmd.startswith(("postgres: ", "/usr/lib/postgresql/")) and "(" not in cmd
    )
    groups["rabbitmq"] = pids_matching(lambda cmd: "beam.smp" in cmd and "rabbit" in cmd)
    return groups


if __name__ == "__main__":
    main()
