"""What one database's PostgreSQL backends are doing, sampled: running, idle, or waiting (and
for what: a row lock, WAL flush, the client). For the benches' question "lock waits?"."""

from __future__ import annotations

import collections
import threading

import psycopg

#: what is sampled: one row per backend of the database, but this sampler's own
QUERY = """
SELECT state, coalesce(wait_event_type || ':' || wait_event, 'running'),
       split_part(ltrim(query), ' ', 1)
FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()
"""


class WaitSampler:
    """Samples every ``interval`` seconds from :meth:`start` until :meth:`stop`."""

    def __init__(self, url: str, database: str, interval: float = 0.02):
        self.url = url.replace("postgresql+psycopg://", "postgresql://")
        self.database = database
        self.interval = interval
        self.counts: collections.Counter[tuple[str, str, str]] = collections.Counter()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> collections.Counter[tuple[str, str, str]]:
        self._stop.set()
        self._thread.join()
        return self.counts

    def _run(self) -> None:
        with psycopg.connect(self.url, autocommit=True) as connection:
            while not self._stop.wait(self.interval):
                for state, wait, verb in connection.execute(QUERY, (self.database,)):
                    if state == "active" or wait.startswith("Lock"):
                        self.counts[(state or "?", wait, verb.upper()[:12])] += 1

    def report(self, top: int = 12) -> list[str]:
        """The most frequent (state, wait, statement verb) of non-idle backends, as shares of
        all such samples."""
        total = sum(self.counts.values()) or 1
        return [
            f"  {100 * n / total:5.1f}%  {wait:<28} {verb:<12} ({state})"
            for (state, wait, verb), n in self.counts.most_common(top)
        ]
