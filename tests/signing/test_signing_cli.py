"""gbagw keys init / rotate / list, and the verify report the main CLI prints."""

from __future__ import annotations

import subprocess
import sys
from io import StringIO
from pathlib import Path

import pytest
import yaml
from rich.console import Console
from typer.testing import CliRunner

from signing import KeyDirectory
from signing.cli import keys_app, verify_command, verify_file_report

runner = CliRunner()
GBAGW = str(Path(sys.executable).with_name("gbagw"))


def gbagw(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([GBAGW, *args], capture_output=True, text=True, timeout=120, cwd=cwd)


def test_keys_init_list_rotate(tmp_path):
    directory = tmp_path / "keys"
    done = runner.invoke(
        keys_app, ["init", str(directory), "--agency", "HK-TD", "--key-type", "ec"]
    )
    assert done.exit_code == 0, done.output
    assert (directory / "trust.yaml").is_file()

    again = runner.invoke(keys_app, ["init", str(directory)])  # idempotent: nothing replaced
    assert again.exit_code == 0, again.output
    assert "keys already in" in again.output

    listed = runner.invoke(keys_app, ["list", "--dir", str(directory)], env={"COLUMNS": "200"})
    assert listed.exit_code == 0, listed.output
    assert "HK-TD" in listed.output and "GD-GBA-GW" in listed.output
    assert "secp256r1" in listed.output

    before = KeyDirectory(directory).agency_key("HK-TD").fingerprint
    rotated = runner.invoke(
        keys_app, ["rotate", "--agency", "HK-TD", "--dir", str(directory), "--window-days", "3"]
    )
    assert rotated.exit_code == 0, rotated.output
    assert KeyDirectory(directory).agency_key("HK-TD").fingerprint != before  # same second too
    listed = runner.invoke(keys_app, ["list"], env={"GBAGW_KEYS": str(directory), "COLUMNS": "200"})
    assert listed.output.count("HK-TD") == 2
    assert "rotating out" in listed.output

    unknown = runner.invoke(keys_app, ["rotate", "--agency", "HK-NOBODY", "--dir", str(directory)])
    assert unknown.exit_code != 0


def test_keys_add_registers_a_party_certificate_once(kit, small_keydir, tmp_path):
    keys = small_keydir()
    pem = kit.cert_pem(kit.key("MO-DSI"), tmp_path)
    args = ["add", "--agency", "MO-DSI", "--certificate", str(pem), "--dir", str(keys.path)]
    assert runner.invoke(keys_app, args).exit_code == 0
    (registration,) = keys.trust_store().certificates_for("MO-DSI")
    assert registration.fingerprint == kit.key("MO-DSI").fingerprint

    again = runner.invoke(keys_app, args, env={"COLUMNS": "250"})  # would brick trust.yaml
    assert again.exit_code != 0 and "already registered" in again.output
    bad = runner.invoke(keys_app, [*args[:1], "--agency", "../x", *args[3:]])
    assert bad.exit_code != 0
    assert len(keys.trust_store().certificates_for("MO-DSI")) == 1


def test_verify_report_accepted_and_rejected(kit, keydir, tmp_path):
    good = tmp_path / "good.xml"
    good.write_bytes(kit.signed(kit.hk_doc("HK-TD"), kit.key("HK-TD")))
    report = verify_file_report(
        good, kit.hk_header, agency="HK-TD", keys_dir=keydir.path, now=kit.now
    )
    assert report.accepted and report.sender == "HK-TD"
    assert report.fingerprint == kit.key("HK-TD").fingerprint

    forged = tmp_path / "forged.xml"
    forged.write_bytes(kit.signed(kit.hk_doc("HK-TD"), kit.key("HK-CR")))
    report = verify_file_report(
        forged, kit.hk_header, agency="HK-TD", keys_dir=keydir.path, now=kit.now
    )
    assert not report.accepted
    assert report.error == "CertificateOfAnotherParty"
    assert report.claimed_sender == "HK-TD"
    assert report.registered_party == "HK-CR"
    assert "CN=HK-CR" in (report.certificate_subject or "")


def test_verify_command_prints_and_returns_exit_codes(kit, keydir, tmp_path):
    good = tmp_path / "good.xml"
    good.write_bytes(kit.signed(kit.mo_doc("MO-DSAT"), kit.key("MO-DSAT")))
    out = StringIO()
    console = Console(file=out, width=200)
    code = verify_command(good, "MO-DSAT", keydir.path, kit.mo_header, console=console, now=kit.now)
    assert code == 0
    assert "ACCEPTED" in out.getvalue() and "MO-DSAT" in out.getvalue()

    bad = tmp_path / "bad.xml"
    bad.write_bytes(good.read_bytes().replace(b"DSAT-2026-0042", b"DSAT-2026-0043"))
    out.truncate(0)
    code = verify_command(bad, "MO-DSAT", keydir.path, kit.mo_header, console=console, now=kit.now)
    assert code == 1
    assert "REJECTED" in out.getvalue() and "DigestMismatch" in out.getvalue()

    code = verify_command(good, "MO-DSAT", tmp_path / "none", kit.mo_header, console=console)
    assert code == 3


def test_keys_init_keeps_a_usable_key_set_and_says_so(tmp_path):
    """The README's `keys init var/keys` after `demo` made them: exit 0, nothing replaced."""
    directory = tmp_path / "keys"
    made = gbagw("keys", "init", str(directory), "--agency", "HK-TD", "--key-type", "ec")
    assert made.returncode == 0, made.stderr
    before = {p: p.read_bytes() for p in directory.rglob("*") if p.is_file()}

    for args in (["keys", "init", str(directory)], ["keys", "init", "--keys", str(directory)]):
        again = gbagw(*args)
        assert again.returncode == 0, again.stdout + again.stderr
        assert again.stdout == f"keys already in {directory} (2 parties); --force replaces them\n"
        assert again.stderr == ""
    # relative, as the README gives it, and through $GBAGW_KEYS
    assert gbagw("keys", "init", "keys", cwd=tmp_path).returncode == 0
    by_env = runner.invoke(keys_app, ["init"], env={"GBAGW_KEYS": str(directory)})
    assert by_env.exit_code == 0 and "keys already in" in by_env.output
    assert {p: p.read_bytes() for p in directory.rglob("*") if p.is_file()} == before

    gateway = KeyDirectory(directory).gateway_key().fingerprint
    forced = gbagw("keys", "init", str(directory), "--force", "--agency", "HK-TD")
    assert forced.returncode == 0 and forced.stdout.startswith("Created 2 keys"), forced.stderr
    assert KeyDirectory(directory).gateway_key().fingerprint != gateway


@pytest.mark.parametrize(
    ("breakage", "reason"),
    [
        ("yaml", "not YAML"),  # not YAML at all
        ("version", "version: 1"),  # YAML, not a trust list
        ("entry", "bad entry for GD-GBA-GW"),  # an entry without its fingerprint
        ("swapped", "changed on disk"),  # a certificate file replaced
        ("no-gateway-key", "No such file"),  # the gateway's private key deleted
        ("gateway-expired", "no private key of GD-GBA-GW is accepted"),
    ],
)
def test_keys_init_on_a_broken_key_set_exits_3_with_the_reason(tmp_path, breakage, reason):
    directory = tmp_path / "keys"
    assert gbagw("keys", "init", str(directory), "--agency", "HK-TD").returncode == 0
    trust = directory / "trust.yaml"
    text = trust.read_text("utf-8")
    gateway_dir = directory / "parties" / "GD-GBA-GW"
    if breakage == "yaml":
        trust.write_text("version: [\n", "utf-8")
    elif breakage == "version":
        trust.write_text("- just a list\n", "utf-8")
    elif breakage == "entry":
        trust.write_text(text.replace("fingerprint:", "fingerprints:", 1), "utf-8")
    elif breakage == "swapped":
        (cert,) = gateway_dir.glob("*.cert.pem")
        (hk,) = (directory / "parties" / "HK-TD").glob("*.cert.pem")
        cert.write_bytes(hk.read_bytes())
    elif breakage == "no-gateway-key":
        for key in gateway_dir.glob("*.key.pem"):
            key.unlink()
    else:
        document = yaml.safe_load(text)
        document["parties"]["GD-GBA-GW"][0]["accepted_until"] = "2001-01-01T00:00:00Z"
        trust.write_text(yaml.safe_dump(document), "utf-8")
    broken = trust.read_bytes()

    done = gbagw("keys", "init", str(directory))
    assert done.returncode == 3, done.stdout + done.stderr
    assert done.stdout == ""
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr
    assert str(directory) in done.stderr and reason in done.stderr, done.stderr
    assert "--force" in done.stderr
    assert trust.read_bytes() == broken  # left as it was for the operator to look at

    repaired = gbagw("keys", "init", str(directory), "--force", "--agency", "HK-TD")
    assert repaired.returncode == 0, repaired.stderr
    assert KeyDirectory(directory).gateway_key() is not None
    assert gbagw("keys", "init", str(directory)).returncode == 0


def test_keys_init_creates_keys_in_an_existing_empty_directory(tmp_path):
    directory = tmp_path / "keys"
    directory.mkdir()
    done = gbagw("keys", "init", str(directory), "--agency", "MO-DSI")
    assert done.returncode == 0 and done.stdout.startswith("Created 2 keys"), done.stderr
