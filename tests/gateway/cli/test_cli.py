"""The ``gbagw`` command as a user runs it: real processes, real files, real sockets."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from lxml import etree

from gateway.devkit.examples import bundled_examples
from gateway.serve import free_port

GBAGW = str(Path(sys.executable).with_name("gbagw"))
EXAMPLES = {p.stem: p for p in bundled_examples()}


def gbagw(*args: str, cwd: Path | None = None, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([GBAGW, *args], capture_output=True, text=True, timeout=timeout, cwd=cwd)


def party_files(keys, party: str) -> tuple[str, str]:
    folder = keys.path / "parties" / party
    return str(sorted(folder.glob("*.key.pem"))[-1]), str(sorted(folder.glob("*.cert.pem"))[-1])


def test_render_writes_a_signed_document_that_verify_accepts(keys, tmp_path: Path) -> None:
    key, cert = party_files(keys, "GD-GBA-GW")
    done = gbagw(
        *("render", "--to", "mo", "--keys", str(keys.path), "--key", key, "--cert", cert),
        str(EXAMPLES["northbound-vehicle-mo"]),
    )
    assert done.returncode == 0, done.stderr
    root = etree.fromstring(done.stdout.encode())
    assert etree.QName(root).localname == "PedidoProcesso"
    out = tmp_path / "case.xml"
    out.write_text(done.stdout, encoding="utf-8")
    verified = gbagw("verify", "--from", "GD-GBA-GW", "--keys", str(keys.path), str(out))
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert "ACCEPTED" in verified.stdout and "GD-GBA-GW" in verified.stdout
    # claimed as coming from an agency, the same document is refused with a reason
    refused = gbagw("verify", "--from", "MO-DSAT", "--keys", str(keys.path), str(out))
    assert refused.returncode == 1 and "REJECTED" in refused.stdout


def test_render_refuses_the_wrong_region(keys) -> None:
    key, cert = party_files(keys, "GD-GBA-GW")
    done = gbagw(
        "render", "--to", "hk", "--key", key, "--cert", cert, str(EXAMPLES["northbound-vehicle-mo"])
    )
    assert done.returncode == 1 and "targetRegion" in done.stderr and done.stdout == ""


def test_invalid_application_lists_every_problem_with_its_path(tmp_path: Path) -> None:
    data = json.loads(EXAMPLES["driving-licence-exchange-hk"].read_text("utf-8"))
    data["applicant"]["idNumber"] = "440106199304182622"
    data["form"]["licenceClass"] = "Z9"
    data["deficient"] = ["M02"]
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(data, ensure_ascii=False), "utf-8")
    human = gbagw("validate", str(bad))
    assert human.returncode == 1
    for path in ("applicant.idNumber", "form.licenceClass", "deficient[0]", "materials"):
        assert path in human.stderr, human.stderr
    machine = gbagw("validate", "--json", str(bad))
    errors = json.loads(machine.stderr)["errors"]
    assert {"applicant.idNumber", "form.licenceClass", "deficient[0]"} <= {
        e["path"] for e in errors
    }


def test_validate_accepts_a_bundled_example() -> None:
    done = gbagw("validate", str(EXAMPLES["pension-proof-of-life-hk"]))
    assert done.returncode == 0, done.stderr


def test_render_with_a_catalogue_that_breaks_the_regulation(keys, tmp_path: Path) -> None:
    from gateway.catalogue.loader import bundled_items_dir

    record = json.loads((bundled_items_dir() / "northbound-vehicle.json").read_text("utf-8"))
    record["committedDays"] = 99
    (tmp_path / "nb.json").write_text(json.dumps(record), "utf-8")
    key, cert = party_files(keys, "GD-GBA-GW")
    done = gbagw(
        "render",
        "--to",
        "hk",
        "--catalogue",
        str(tmp_path),
        "--key",
        key,
        "--cert",
        cert,
        str(EXAMPLES["northbound-vehicle-hk"]),
    )
    assert done.returncode != 0 and "exceeds statutoryDays" in done.stderr


def test_demo_files_and_delivers_every_example_through_the_embedded_gateway(
    tmp_path: Path,
) -> None:
    """The README's main job: a real store, broker, worker and two sandbox agencies."""
    done = gbagw("demo", cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "10 of 10 cases delivered with a verified receipt" in done.stdout
    assert done.stdout.count("verified") == 11  # ten rows and the summary line
    listed = gbagw("cases", "list", "--json", cwd=tmp_path)
    cases = json.loads(listed.stdout)
    # delivered, or further on: the sandboxes push and are polled (reconciliation)
    assert all(c["state"] not in ("filed", "undeliverable") for c in cases), cases
    # what the agencies hold, read from their own stores: one case per case ref, ten in all
    from adapters.sandbox.store import SandboxStore

    held = {
        region: SandboxStore(tmp_path / "var" / f"sandbox-{region}.db").count_cases()
        for region in ("hk", "mo")
    }
    assert held == {"hk": 5, "mo": 5}
    again = gbagw("demo", cwd=tmp_path)  # a second run files nothing twice
    assert again.returncode == 0, again.stdout + again.stderr
    assert (
        sum(SandboxStore(tmp_path / "var" / f"sandbox-{r}.db").count_cases() for r in ("hk", "mo"))
        == 10
    )


def _listening_addresses(port: int) -> set[str]:
    """Local addresses listening on ``port`` (from /proc/net/tcp and tcp6)."""
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            address, hex_port = local.rsplit(":", 1)
            if state == "0A" and int(hex_port, 16) == port:  # 0A: LISTEN
                found.add(address)
    return found


@pytest.mark.parametrize("region", ["hk", "mo"])
def test_sandbox_send_and_conformance_over_loopback(region: str, keys, tmp_path: Path) -> None:
    port = free_port()
    env = dict(os.environ, GBAGW_KEYS=str(keys.path))
    server = subprocess.Popen(
        [GBAGW, "sandbox", region, "--port", str(port), "--db", str(tmp_path / "sandbox.db")],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                httpx.get(
                    url
                    + (
                        "/sip?wsdl"
                        if region == "mo"
                        else "/cbce/v1/cases/GBA-00000000000000000000/status"
                    ),
                    timeout=1,
                )
                break
            except httpx.TransportError:
                time.sleep(0.1)
        # only the loopback address listens (127.0.0.1 is 0100007F in /proc/net/tcp)
        assert _listening_addresses(port) == {"0100007F"}
        endpoint = url  # the base URL a user is given (the SIP sandbox also answers at /sip)
        example = EXAMPLES[f"northbound-vehicle-{region}"]
        sent = gbagw(
            "send", "--to", region, "--url", endpoint, "--keys", str(keys.path), str(example)
        )
        assert sent.returncode == 0, sent.stdout + sent.stderr
        assert "delivered" in sent.stdout or "duplicate" in sent.stdout
        checked = gbagw(
            "conformance", "--agency", region, "--url", endpoint, "--keys", str(keys.path)
        )
        assert checked.returncode == 0, checked.stdout + checked.stderr
        assert " 0 failed" in checked.stdout
    finally:
        server.send_signal(signal.SIGINT)
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.kill()


def test_a_standalone_sandbox_keeps_its_own_database(keys, tmp_path: Path) -> None:
    """By default by port: `gbagw run`'s own sandbox of the region uses var/sandbox-hk.db, and
    one file shared by two agency processes mixed their cases and locked them out (HTTP 500)."""
    from gateway.devkit.cluster import wait_for_port

    port = free_port()
    env = dict(os.environ, GBAGW_KEYS=str(keys.path))
    server = subprocess.Popen(
        [GBAGW, "sandbox", "hk", "--port", str(port)],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for_port(port)
        assert (tmp_path / "var" / f"sandbox-hk-{port}.db").exists()
        assert not (tmp_path / "var" / "sandbox-hk.db").exists()
    finally:
        server.terminate()
        server.wait(timeout=30)
