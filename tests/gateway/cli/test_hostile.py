"""Hostile input through the real ``gbagw``: whatever arrives, one line and an exit code.

Every case runs the installed console script in a subprocess, as a user would, and checks the
documented exit code (docs/configuration.md: 1 read and refused, 2 unreadable), the reason in
the message, and that neither stream carries a Python traceback. ``validate``, ``render`` and
``send`` read their input the same way, so each hostile input is tried on all three.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from gateway.devkit.examples import bundled_examples
from signing import KeyDirectory

GBAGW = str(Path(sys.executable).with_name("gbagw"))
EXAMPLES = {p.stem: p for p in bundled_examples()}
EXAMPLE = EXAMPLES["northbound-vehicle-hk"]
#: a port nothing listens on (discard): sending must fail cleanly, not hang or trace back
CLOSED_URL = "http://127.0.0.1:9"
LIMIT = 1_000_000  # GBAGW_MAX_INPUT_BYTES' default


@dataclass(frozen=True)
class Run:
    returncode: int
    stdout: str
    stderr: str
    seconds: float
    #: the child's peak resident set size, in MB (from wait4, for this child only)
    peak_mb: float

    @property
    def output(self) -> str:
        return f"exit {self.returncode}\nstdout: {self.stdout}\nstderr: {self.stderr}"


#: A child forked from the (large) test process counts the parent's pages in its peak RSS
#: even after exec; so a small fresh interpreter starts ``gbagw`` and reports its peak.
_LAUNCHER = (
    "import resource, subprocess, sys\n"
    "code = subprocess.call(sys.argv[2:])\n"
    "with open(sys.argv[1], 'w') as f:\n"
    "    f.write(str(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss))\n"
    "sys.exit(code)\n"
)


def gbagw(*args: str, stdin: bytes | None = None, timeout: float = 120) -> Run:
    """Run ``gbagw`` and measure its own peak memory (through a small launcher)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GBAGW_")}
    with (
        tempfile.TemporaryFile() as out,
        tempfile.TemporaryFile() as err,
        tempfile.NamedTemporaryFile(suffix=".rss") as rss,
    ):
        started = time.monotonic()
        proc = subprocess.Popen(
            [sys.executable, "-S", "-c", _LAUNCHER, rss.name, GBAGW, *args],
            stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
            stdout=out,
            stderr=err,
            env=env,
            start_new_session=True,  # a timeout kills the launcher and gbagw together
        )
        timer = threading.Timer(timeout, os.killpg, (proc.pid, 9))
        timer.start()
        try:
            if stdin is not None:
                assert proc.stdin is not None
                try:
                    proc.stdin.write(stdin)
                except BrokenPipeError:  # it stopped reading: that is its right
                    pass
                finally:
                    try:
                        proc.stdin.close()
                    except BrokenPipeError:
                        pass
            _, status, _ = os.wait4(proc.pid, 0)
        finally:
            timer.cancel()
        proc.returncode = os.waitstatus_to_exitcode(status)
        seconds = time.monotonic() - started
        out.seek(0)
        err.seek(0)
        return Run(
            returncode=proc.returncode,
            stdout=out.read().decode("utf-8", "replace"),
            stderr=err.read().decode("utf-8", "replace"),
            seconds=seconds,
            peak_mb=int(Path(rss.name).read_text() or 0) / 1024,  # KB on Linux
        )


def no_traceback(run: Run) -> None:
    assert "Traceback" not in run.stdout and "Traceback" not in run.stderr, run.output
    assert "internal error" not in run.stderr, run.output


# --- the hostile inputs -----------------------------------------------------------------------


def example_text() -> str:
    return EXAMPLE.read_text("utf-8")


def duplicate_id_number() -> bytes:
    """The example with ``applicant.idNumber`` given twice (the second would win silently)."""
    data = json.loads(example_text())
    first = json.dumps(data["applicant"]["idNumber"], ensure_ascii=False)
    body = json.dumps(data, ensure_ascii=False, indent=2)
    needle = f'"idNumber": {first}'
    assert body.count(needle) == 1
    body = body.replace(needle, f'{needle},\n    "idNumber": "A1234563"')
    return body.encode("utf-8")


def invalid_utf8() -> bytes:
    text = example_text()
    at = text.index('"name"')
    return text[:at].encode() + b'"name": "\xff\xfe\xc3", ' + text[at:].encode()


@dataclass(frozen=True)
class Hostile:
    make: Callable[[], bytes]
    code: int
    #: every one of these must appear in stderr (case-insensitive)
    says: tuple[str, ...]


HOSTILE = {
    "duplicate-key": Hostile(duplicate_id_number, 1, ("applicant.idNumber", "duplicate")),
    "bom": Hostile(lambda: b"\xef\xbb\xbf" + EXAMPLE.read_bytes(), 1, ("byte-order mark",)),
    "deep-array": Hostile(lambda: b"[" * 10_000 + b"]" * 10_000, 1, ("nested|deep",)),
    "deep-object": Hostile(lambda: b'{"a":' * 10_000 + b"1" + b"}" * 10_000, 1, ("nested|deep",)),
    "nul-bytes": Hostile(lambda: EXAMPLE.read_bytes().replace(b"{", b"{\0", 1), 1, ("json",)),
    "nul-only": Hostile(lambda: b"\0" * 4096, 1, ("json|utf-8",)),
    "invalid-utf8": Hostile(invalid_utf8, 1, ("utf-8",)),
    "not-json": Hostile(lambda: b"{", 1, ("json",)),
    "empty": Hostile(lambda: b"", 1, ("json|empty",)),
    "json-array": Hostile(lambda: b"[1, 2]", 1, ()),
    "too-large": Hostile(lambda: b" " * (LIMIT + 1), 1, ("larger than",)),
}


def says(run: Run, words: tuple[str, ...]) -> None:
    text = run.stderr.lower()
    for word in words:
        assert any(alt in text for alt in word.lower().split("|")), run.output


@pytest.fixture(scope="module")
def hostile_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("hostile")
    files = {}
    for name, case in HOSTILE.items():
        files[name] = folder / f"{name}.json"
        files[name].write_bytes(case.make())
    return files


def command(name: str, keys: KeyDirectory) -> list[str]:
    """The arguments before the input of ``validate``, ``render`` or ``send``."""
    if name == "validate":
        return ["validate"]
    if name == "render":
        return ["render", "--to", "hk", "--keys", str(keys.path)]
    return ["send", "--to", "hk", "--keys", str(keys.path), "--url", CLOSED_URL, "--timeout", "5"]


COMMANDS = ("validate", "render", "send")


@pytest.mark.parametrize("name", COMMANDS)
@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_hostile_file_is_refused_with_its_reason(name, case, keys, hostile_files) -> None:
    expected = HOSTILE[case]
    run = gbagw(*command(name, keys), str(hostile_files[case]))
    no_traceback(run)
    assert run.returncode == expected.code, run.output
    says(run, expected.says)
    assert run.stdout == "", run.output  # nothing rendered, nothing sent
    assert run.seconds < 30, f"{case} took {run.seconds:.1f}s"


@pytest.mark.parametrize("name", COMMANDS)
@pytest.mark.parametrize("case", ["deep-array", "duplicate-key", "invalid-utf8", "bom"])
def test_hostile_standard_input_is_refused_like_a_file(name, case, keys) -> None:
    expected = HOSTILE[case]
    run = gbagw(*command(name, keys), "-", stdin=expected.make())
    no_traceback(run)
    assert run.returncode == expected.code, run.output
    says(run, expected.says)


@pytest.mark.parametrize("name", COMMANDS)
def test_dev_zero_is_refused_quickly_in_bounded_memory(name, keys) -> None:
    run = gbagw(*command(name, keys), "/dev/zero", timeout=60)
    no_traceback(run)
    assert run.returncode == 1, run.output
    assert f"/dev/zero: larger than {LIMIT} bytes" in run.stderr, run.output
    assert run.peak_mb < 200, f"peak RSS {run.peak_mb:.0f} MB reading /dev/zero"
    assert run.seconds < 30, f"took {run.seconds:.1f}s"


def test_endless_standard_input_is_refused_in_bounded_memory() -> None:
    with open("/dev/zero", "rb") as zero:
        started = time.monotonic()
        done = subprocess.run(
            [GBAGW, "validate", "-"], stdin=zero, capture_output=True, text=True, timeout=60
        )
    assert done.returncode == 1, done.stderr
    assert "standard input: larger than" in done.stderr
    assert "Traceback" not in done.stderr + done.stdout
    assert time.monotonic() - started < 30


@pytest.mark.parametrize("name", COMMANDS)
def test_a_directory_and_a_missing_file_are_unreadable(name, keys, tmp_path) -> None:
    for source, why in ((tmp_path, "Is a directory"), (tmp_path / "nope.json", "No such file")):
        run = gbagw(*command(name, keys), str(source))
        no_traceback(run)
        assert run.returncode == 2, run.output
        assert f"cannot read {source}" in run.stderr and why in run.stderr, run.output
        assert run.stdout == ""


def test_an_unreadable_file_is_exit_2(keys, tmp_path) -> None:
    if os.geteuid() == 0:
        pytest.skip("root reads any file")  # pragma: no cover - CI runs as root or not
    locked = tmp_path / "locked.json"
    locked.write_bytes(EXAMPLE.read_bytes())
    locked.chmod(0)
    run = gbagw("validate", str(locked))
    no_traceback(run)
    assert run.returncode == 2 and "Permission denied" in run.stderr, run.output


def feed_fifo(fifo: Path, source: str) -> subprocess.Popen[bytes]:
    """A writer that blocks until gbagw opens ``fifo`` for reading, then copies ``source``."""
    return subprocess.Popen(
        ["sh", "-c", 'exec cat "$1" > "$2"', "sh", source, str(fifo)],
        stderr=subprocess.DEVNULL,
    )


@pytest.mark.parametrize("name", COMMANDS)
def test_a_fifo_is_read_like_a_file(name, keys, tmp_path) -> None:
    fifo = tmp_path / "application.fifo"
    os.mkfifo(fifo)
    writer = feed_fifo(fifo, str(EXAMPLE))
    try:
        run = gbagw(*command(name, keys), str(fifo), timeout=60)
    finally:
        writer.kill()
        writer.wait()
    no_traceback(run)
    if name == "send":  # read, rendered and signed; the closed port refuses it
        assert run.returncode == 1 and "Connection refused" in run.stdout, run.output
    else:
        assert run.returncode == 0, run.output
    if name == "render":
        assert run.stdout.lstrip().startswith("<")


@pytest.mark.parametrize("name", COMMANDS)
def test_a_fifo_that_never_ends_is_refused_in_bounded_memory(name, keys, tmp_path) -> None:
    fifo = tmp_path / "endless.fifo"
    os.mkfifo(fifo)
    writer = feed_fifo(fifo, "/dev/zero")
    try:
        run = gbagw(*command(name, keys), str(fifo), timeout=60)
    finally:
        writer.kill()
        writer.wait()
    no_traceback(run)
    assert run.returncode == 1 and "larger than" in run.stderr, run.output
    assert run.peak_mb < 200, f"peak RSS {run.peak_mb:.0f} MB"


def test_standard_input_valid_and_invalid() -> None:
    valid = gbagw("validate", "-", stdin=EXAMPLE.read_bytes())
    assert valid.returncode == 0 and "valid standard input" in valid.stderr, valid.output
    broken = gbagw("validate", "-", stdin=b'{"applicant": ')
    no_traceback(broken)
    assert broken.returncode == 1 and "not valid JSON" in broken.stderr, broken.output
    machine = gbagw("validate", "--json", "-", stdin=b"\xef\xbb\xbf{}")
    assert machine.returncode == 1, machine.output
    (error,) = json.loads(machine.stderr)["errors"]
    assert "byte-order mark" in error["message"]


def test_render_from_standard_input_writes_the_document(keys) -> None:
    run = gbagw("render", "--to", "hk", "--keys", str(keys.path), "-", stdin=EXAMPLE.read_bytes())
    assert run.returncode == 0, run.output
    assert "CaseSubmission" in run.stdout


def test_send_to_a_closed_port_fails_cleanly(keys) -> None:
    run = gbagw(*command("send", keys), str(EXAMPLE))
    no_traceback(run)
    assert run.returncode == 1, run.output
    assert "Connection refused" in run.stdout, run.output


@pytest.mark.parametrize(
    "url", ["not a url", "ftp://127.0.0.1/", "http://[::1", "http://127.0.0.1:99999"]
)
def test_send_to_a_malformed_url_fails_cleanly(keys, url) -> None:
    args = command("send", keys)
    args[args.index(CLOSED_URL)] = url
    run = gbagw(*args, str(EXAMPLE))
    no_traceback(run)
    assert run.returncode in (1, 2), run.output


# --- render signs with the gateway's registered pair only -------------------------------------


def pair(keys: KeyDirectory, party: str) -> tuple[Path, Path]:
    folder = keys.path / "parties" / party
    return sorted(folder.glob("*.key.pem"))[-1], sorted(folder.glob("*.cert.pem"))[-1]


def render_with(keys: KeyDirectory, key: Path, cert: Path) -> Run:
    return gbagw(
        *("render", "--to", "hk", "--keys", str(keys.path)),
        *("--key", str(key), "--cert", str(cert), str(EXAMPLE)),
    )


@pytest.fixture(scope="module")
def stranger(tmp_path_factory: pytest.TempPathFactory) -> KeyDirectory:
    """Another development CA's key set: its GD-GBA-GW pair is a stranger to ``keys``."""
    directory = KeyDirectory(tmp_path_factory.mktemp("stranger"))
    directory.init(agencies=("HK-TD",))
    return directory


def current_gateway_certificate(keys: KeyDirectory) -> str:
    return pair(keys, "GD-GBA-GW")[1].name


def refused(run: Run, code: int = 1) -> None:
    no_traceback(run)
    assert run.returncode == code, run.output
    assert run.stdout == "", "a refused pair must not produce a document"
    assert run.stderr.count("\n") == 1, run.output


def test_render_with_the_gateways_own_pair_signs(keys) -> None:
    run = render_with(keys, *pair(keys, "GD-GBA-GW"))
    assert run.returncode == 0, run.output
    assert "CaseSubmission" in run.stdout and "SignatureValue" in run.stdout


def test_render_refuses_an_agencys_pair(keys) -> None:
    run = render_with(keys, *pair(keys, "HK-TD"))
    refused(run)
    assert "HK-TD's, not GD-GBA-GW's" in run.stderr, run.output
    assert current_gateway_certificate(keys) in run.stderr, run.output


def test_render_refuses_a_pair_under_another_ca(keys, stranger) -> None:
    run = render_with(keys, *pair(stranger, "GD-GBA-GW"))
    refused(run)
    assert "not in the trust list" in run.stderr, run.output
    assert current_gateway_certificate(keys) in run.stderr, run.output


@pytest.mark.parametrize("key_from", ["agency", "stranger"])
def test_render_refuses_a_key_that_does_not_match_the_certificate(keys, stranger, key_from) -> None:
    """The gateway's certificate with another key: refused as a pair (1), naming the right one."""
    key = pair(keys, "HK-TD")[0] if key_from == "agency" else pair(stranger, "GD-GBA-GW")[0]
    run = render_with(keys, key, pair(keys, "GD-GBA-GW")[1])
    refused(run, code=1)
    assert "does not match" in run.stderr, run.output
    assert current_gateway_certificate(keys) in run.stderr, run.output


@pytest.mark.parametrize("which", ["key", "cert"])
@pytest.mark.parametrize("content", ["missing", "not-pem", "swapped"])
def test_render_refuses_unloadable_key_files(keys, tmp_path, which, content) -> None:
    key, cert = pair(keys, "GD-GBA-GW")
    bad = tmp_path / f"bad.{which}.pem"
    if content == "not-pem":
        bad.write_bytes(EXAMPLE.read_bytes())
    elif content == "swapped":  # the key where the certificate goes and the other way round
        bad.write_bytes((cert if which == "key" else key).read_bytes())
    run = render_with(keys, bad if which == "key" else key, bad if which == "cert" else cert)
    refused(run, code=2)
    assert "cannot load signing key" in run.stderr, run.output


def test_render_refuses_a_key_without_its_certificate(keys) -> None:
    key, _ = pair(keys, "GD-GBA-GW")
    run = gbagw("render", "--to", "hk", "--keys", str(keys.path), "--key", str(key), str(EXAMPLE))
    refused(run, code=2)
    assert "--key and --cert go together" in run.stderr


# --- a broken key directory is configuration: exit 3, one line --------------------------------


def key_command(name: str, keys_path: Path, ca_cert: Path) -> list[str]:
    example = str(EXAMPLE)
    return {
        "render": ["render", "--to", "hk", "--keys", str(keys_path), example],
        "send": [*command("send", KeyDirectory(keys_path)), example],
        "verify": ["verify", "--keys", str(keys_path), str(keys_path.parent / "case.xml")],
        "keys list": ["keys", "list", "--keys", str(keys_path)],
        "keys rotate": ["keys", "rotate", "--agency", "HK-TD", "--keys", str(keys_path)],
        "keys add": [
            *("keys", "add", "--agency", "MO-DSI", "--certificate", str(ca_cert)),
            *("--keys", str(keys_path)),
        ],
    }[name]


@pytest.mark.parametrize(
    ("name", "breakage"),
    [
        ("render", "missing"),
        ("send", "missing"),
        ("verify", "missing"),
        ("keys list", "missing"),
        ("keys rotate", "missing"),
        ("render", "not-yaml"),
        ("send", "not-yaml"),
        ("verify", "not-yaml"),
        ("keys list", "not-yaml"),
        ("keys add", "not-yaml"),
    ],
)
def test_a_broken_key_directory_exits_3_in_one_line(name, breakage, tmp_path) -> None:
    directory = KeyDirectory(tmp_path / "keys")
    directory.init(agencies=("HK-TD",))
    ca_cert = tmp_path / "other-ca.cert.pem"
    ca_cert.write_bytes(directory.ca_cert_path.read_bytes())
    signed = gbagw("render", "--to", "hk", "--keys", str(directory.path), str(EXAMPLE))
    (tmp_path / "case.xml").write_text(signed.stdout, "utf-8")  # a document verify must check
    if breakage == "missing":
        directory.trust_file.unlink()
    else:
        directory.trust_file.write_text("version: [\n", "utf-8")
    run = gbagw(*key_command(name, directory.path, ca_cert))
    no_traceback(run)
    assert run.returncode == 3, run.output
    assert run.stderr.strip().count("\n") == 0, run.output
    assert str(directory.trust_file) in run.stderr or str(directory.path) in run.stderr
