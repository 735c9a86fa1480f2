"""gbagw keys init / rotate / list, and the verify report the main CLI prints."""

from __future__ import annotations

from io import StringIO

from rich.console import Console
from typer.testing import CliRunner

from signing import KeyDirectory
from signing.cli import keys_app, verify_command, verify_file_report

runner = CliRunner()


def test_keys_init_list_rotate(tmp_path):
    directory = tmp_path / "keys"
    done = runner.invoke(
        keys_app, ["init", str(directory), "--agency", "HK-TD", "--key-type", "ec"]
    )
    assert done.exit_code == 0, done.output
    assert (directory / "trust.yaml").is_file()

    again = runner.invoke(keys_app, ["init", str(directory)])
    assert again.exit_code != 0

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
    assert code == 2
