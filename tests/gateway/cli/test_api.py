"""``gbagw api --workers N``: N processes serve one port against the shared store."""

from __future__ import annotations

import json
import os
import signal
import subprocess
from pathlib import Path

import httpx

from gateway.devkit.cluster import free_port, wait_for_port
from gateway.devkit.examples import bundled_examples
from gateway.store.testing import Backend
from signing import KeyDirectory
from tests.gateway.cli.test_clients import GBAGW, gbagw


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry.name))
    return found


def test_two_worker_processes_file_applications_and_stop_cleanly(
    db: Backend, keys: KeyDirectory
) -> None:
    added = gbagw(db, keys, "clients", "add", "gd-platform", "--role", "platform")
    assert added.returncode == 0, added.stderr
    token = added.stdout.strip()
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("GBAGW_")}
    env |= {"GBAGW_DATABASE_URL": db.url, "GBAGW_KEYS": str(keys.path)}
    server = subprocess.Popen(
        [GBAGW, "api", "--port", str(port), "--workers", "2", "--loglevel", "warning"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_for_port(port, timeout=60)
        example = json.loads(bundled_examples()[0].read_text("utf-8"))
        headers = {"Authorization": f"Bearer {token}"}
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", headers=headers) as http:
            filed = [
                http.post("/v1/applications", json={**example, "applicationNo": f"W-{i}"})
                for i in range(4)
            ]
            assert [r.status_code for r in filed] == [201] * 4, filed[0].text
            ref = filed[0].json()["caseRef"]
            assert http.get(f"/v1/cases/{ref}").json()["caseRef"] == ref
        workers = [p for p in _children(server.pid) if Path(f"/proc/{p}/cmdline").exists()]
        assert len(workers) >= 2, workers  # the two workers (and perhaps a resource tracker)
    finally:
        server.send_signal(signal.SIGTERM)
        _, stderr = server.communicate(timeout=30)
    assert server.returncode == 0, stderr
    assert "Traceback" not in stderr


def test_a_worker_count_out_of_range_is_a_usage_error(db: Backend, keys: KeyDirectory) -> None:
    run = gbagw(db, keys, "api", "--workers", "0")
    assert run.returncode == 2 and "--workers" in run.stderr
    assert "Traceback" not in run.stderr
