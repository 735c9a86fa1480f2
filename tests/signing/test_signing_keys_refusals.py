"""``gbagw keys …`` refusing what it must, as a user (or an attacker) runs it: the real
executable, one line on standard error, the documented exit code, the key directory untouched.

Exit codes: 1 a certificate file read and refused; 2 usage (an option out of range, a party
code, ``add`` for a registered party) or a file that cannot be opened; 3 a key directory that
cannot be used.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.x509.oid import NameOID

from signing import KeyDirectory

GBAGW = str(Path(sys.executable).with_name("gbagw"))
NOW = datetime.now(UTC)


def gbagw(
    *args: str, cwd: Path | None = None, keys_env: Path | None = None
) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "GBAGW_KEYS"}
    if keys_env is not None:
        env["GBAGW_KEYS"] = str(keys_env)
    return subprocess.run(
        [GBAGW, *args], capture_output=True, text=True, timeout=120, cwd=cwd, env=env
    )


def one_line_refusal(done: subprocess.CompletedProcess[str], code: int, *words: str) -> None:
    said = done.stdout + done.stderr
    assert done.returncode == code, said
    assert done.stdout == "" and "Traceback" not in said and "internal error" not in said
    errors = [line for line in done.stderr.splitlines() if line.lower().startswith("error")]
    assert len(errors) == 1, done.stderr
    for word in words:
        assert word in errors[0], errors[0]


def snapshot(directory: Path) -> dict[Path, bytes]:
    return {p: p.read_bytes() for p in sorted(directory.rglob("*")) if p.is_file()}


def certificate_pem(
    path: Path,
    key_kind: str = "rsa",
    not_before: datetime = NOW - timedelta(days=1),
    not_after: datetime = NOW + timedelta(days=30),
    cn: str = "evil",
) -> Path:
    key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey
    if key_kind == "rsa":
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    elif key_kind == "rsa1024":
        key = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    elif key_kind == "p384":
        key = ec.generate_private_key(ec.SECP384R1())
    else:
        key = ed25519.Ed25519PrivateKey.generate()
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .sign(key, None if key_kind == "ed25519" else hashes.SHA256())
    )
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return path


@pytest.fixture(scope="module")
def made(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("made") / "keys"
    done = gbagw("keys", "init", str(directory), "--agency", "HK-TD")
    assert done.returncode == 0, done.stderr
    return directory


@pytest.fixture
def keys(made: Path, tmp_path: Path) -> Path:
    """A fresh copy of a key set with GD-GBA-GW and HK-TD (init once per module: RSA is slow)."""
    return Path(shutil.copytree(made, tmp_path / "var" / "keys"))


# --- --window-days -------------------------------------------------------------------------


@pytest.mark.parametrize("days", ["-5", "1e308", "nan", "365.5"])
def test_rotate_refuses_a_window_out_of_range_naming_it(keys, days):
    before = snapshot(keys)
    done = gbagw("keys", "rotate", "--agency", "HK-TD", "--window-days", days, "--keys", str(keys))
    one_line_refusal(done, 2, "--window-days", "0 to 365")
    assert "--agency" not in done.stderr
    assert snapshot(keys) == before


def test_rotate_window_of_zero_ends_the_old_certificate_now_and_help_says_so(keys):
    (old,) = KeyDirectory(keys).entries()[1:]
    done = gbagw("keys", "rotate", "--agency", "HK-TD", "--window-days", "0", "--keys", str(keys))
    assert done.returncode == 0, done.stderr
    entries = {e.fingerprint: e for e in KeyDirectory(keys).entries() if e.party == "HK-TD"}
    new = next(e for f, e in entries.items() if f != old.fingerprint)
    assert entries[old.fingerprint].accepted_until == new.accepted_from  # not before it

    shown = gbagw("keys", "rotate", "--help", cwd=keys)
    assert "365" in shown.stdout and "leaked" in shown.stdout


# --- keys add --------------------------------------------------------------------------------


@pytest.mark.parametrize("party", ["GD-GBA-GW", "HK-TD"])
def test_add_refuses_a_party_already_registered(keys, tmp_path, party):
    other = certificate_pem(tmp_path / "other.crt")
    before = snapshot(keys)
    done = gbagw("keys", "add", "--agency", party, "--certificate", str(other), "--keys", str(keys))
    one_line_refusal(done, 2, f"{party} is already registered", "keys rotate")
    assert snapshot(keys) == before
    listed = gbagw("keys", "list", "--keys", str(keys))
    assert "rotating out" not in listed.stdout


def test_add_registers_a_new_party_once(keys, tmp_path):
    theirs = certificate_pem(tmp_path / "theirs.crt", key_kind="rsa", cn="MO-DSI")
    args = ("keys", "add", "--agency", "MO-DSI", "--certificate", str(theirs), "--keys", str(keys))
    assert gbagw(*args).returncode == 0
    one_line_refusal(gbagw(*args), 2, "MO-DSI is already registered")
    args = ("keys", "add", "--agency", "MO-DSAT", "--certificate", str(theirs), "--keys", str(keys))
    one_line_refusal(gbagw(*args), 1, str(theirs), "already registered for MO-DSI")


# --- certificate files, for add and rotate ---------------------------------------------------


def _bad_certificate(kind: str, tmp_path: Path, keys: Path) -> Path:
    path = tmp_path / f"{kind}.crt"
    if kind == "missing":
        return path
    if kind == "directory":
        path.mkdir()
    elif kind == "garbage":
        path.write_bytes(os.urandom(2000))
    elif kind == "private-key":
        shutil.copy(next((keys / "parties" / "HK-TD").glob("*.key.pem")), path)
    elif kind == "der":
        pem = certificate_pem(path).read_bytes()
        cert = x509.load_pem_x509_certificate(pem)
        path.write_bytes(cert.public_bytes(serialization.Encoding.DER))
    elif kind == "expired":
        certificate_pem(path, not_before=NOW - timedelta(days=60), not_after=NOW - timedelta(1))
    else:
        certificate_pem(path, key_kind=kind)
    return path


BAD_CERTIFICATES = [
    ("missing", 2, "No such file"),
    ("directory", 2, "Is a directory"),
    ("garbage", 1, "not a PEM certificate"),
    ("private-key", 1, "not a PEM certificate"),
    ("der", 1, "not a PEM certificate"),
    ("expired", 1, "expired"),
    ("rsa1024", 1, "RSA-1024"),
    ("p384", 1, "secp384r1"),
    ("ed25519", 1, "Ed25519"),
]
#: rotate reads the file the same way: a few are enough to show it
ROTATE_CASES = [case for case in BAD_CERTIFICATES if case[0] in ("directory", "der", "expired")]


@pytest.mark.parametrize(
    ("command", "kind", "code", "why"),
    [("add", *case) for case in BAD_CERTIFICATES] + [("rotate", *c) for c in ROTATE_CASES],
)
def test_a_bad_certificate_file_is_refused_in_one_line(keys, tmp_path, command, kind, code, why):
    path = _bad_certificate(kind, tmp_path, keys)
    party = "MO-NEW" if command == "add" else "HK-TD"
    before = snapshot(keys)
    done = gbagw(
        "keys", command, "--agency", party, "--certificate", str(path), "--keys", str(keys)
    )
    one_line_refusal(done, code, str(path), why)
    assert snapshot(keys) == before


def test_rotate_refuses_a_certificate_starting_after_the_window(keys, tmp_path):
    later = certificate_pem(
        tmp_path / "later.crt", not_before=NOW + timedelta(days=10), not_after=NOW + timedelta(99)
    )
    args = ("keys", "rotate", "--agency", "HK-TD", "--certificate", str(later), "--keys", str(keys))
    before = snapshot(keys)
    one_line_refusal(gbagw(*args, "--window-days", "7"), 1, "--window-days")
    assert snapshot(keys) == before
    assert gbagw(*args, "--window-days", "14").returncode == 0


def test_rotate_without_certificate_needs_a_key_held_here(keys, tmp_path):
    theirs = certificate_pem(tmp_path / "theirs.crt")
    args = ("--agency", "MO-DSI", "--keys", str(keys))
    assert gbagw("keys", "add", "--certificate", str(theirs), *args).returncode == 0
    before = snapshot(keys)
    one_line_refusal(gbagw("keys", "rotate", *args), 2, "--certificate", "no private key")
    one_line_refusal(gbagw("keys", "rotate", "--agency", "MO-NOBODY", "--keys", str(keys)), 2)
    one_line_refusal(gbagw("keys", "rotate", "--agency", "../x", "--keys", str(keys)), 2, "../x")
    assert snapshot(keys) == before


# --- a key directory that cannot be used -----------------------------------------------------


@pytest.mark.parametrize("breakage", ["no-ca-key", "junk-ca-key", "no-party-key", "not-a-list"])
def test_rotate_in_a_broken_key_directory_exits_3(keys, breakage):
    if breakage == "no-ca-key":
        (keys / "ca" / "ca.key.pem").unlink()
    elif breakage == "junk-ca-key":
        (keys / "ca" / "ca.key.pem").write_text("junk\n")
    elif breakage == "no-party-key":
        next((keys / "parties" / "HK-TD").glob("*.key.pem")).unlink()
    else:
        document = yaml.safe_load((keys / "trust.yaml").read_text("utf-8"))
        document["parties"]["HK-TD"] = 5
        (keys / "trust.yaml").write_text(yaml.safe_dump(document), "utf-8")
    before = snapshot(keys)
    done = gbagw("keys", "rotate", "--agency", "HK-TD", "--keys", str(keys))
    one_line_refusal(done, 3, str(keys))
    assert "https://" not in done.stderr
    assert snapshot(keys) == before


# --- keys init -------------------------------------------------------------------------------


def test_init_with_the_argument_and_gbagw_keys_naming_one_directory(keys):
    """The README's `keys init var/keys` with $GBAGW_KEYS set to the same, absolute."""
    cwd = keys.parent.parent
    done = gbagw("keys", "init", "var/keys", cwd=cwd, keys_env=keys)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("keys already in var/keys")
    both = gbagw("keys", "init", "var/keys", "--keys", str(keys), cwd=cwd)
    assert both.returncode == 0, both.stderr


def test_init_argument_wins_over_gbagw_keys_as_keys_does(keys, tmp_path):
    elsewhere = tmp_path / "elsewhere"
    done = gbagw("keys", "init", str(elsewhere), "--agency", "HK-TD", keys_env=keys)
    assert done.returncode == 0, done.stderr
    assert (elsewhere / "trust.yaml").is_file()
    two = gbagw("keys", "init", str(elsewhere), "--keys", str(keys))
    one_line_refusal(two, 2, "two key directories given")


@pytest.mark.parametrize("code", ["hk-td", "../x"])
def test_init_refuses_a_malformed_agency_before_writing(tmp_path, code):
    target = tmp_path / "keys"
    one_line_refusal(gbagw("keys", "init", str(target), "--agency", code), 2, "--agency")
    assert not target.exists()


def test_init_makes_one_key_per_party_however_often_named(tmp_path):
    target = tmp_path / "keys"
    args = ("--agency", "HK-TD", "--agency", "HK-TD", "--agency", "GD-GBA-GW")
    done = gbagw("keys", "init", str(target), *args)
    assert done.returncode == 0 and done.stdout.startswith("Created 2 keys"), done.stderr
    assert sorted(e.party for e in KeyDirectory(target).entries()) == ["GD-GBA-GW", "HK-TD"]


@pytest.mark.parametrize("under", ["", "sub"])
def test_init_where_a_file_stands_exits_3(tmp_path, under):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory\n")
    target = blocker / under if under else blocker
    done = gbagw("keys", "init", str(target), "--agency", "HK-TD")
    one_line_refusal(done, 3, str(target), "Not a directory")
