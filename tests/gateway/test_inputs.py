"""gateway.inputs.read_bounded: never more than limit+1 bytes read, whatever the input is.

(Here rather than tests/gateway/test_inputs.py only because this suite's owner may not create
files at the top of tests/gateway.)
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from gateway.inputs import InputTooLarge, InputUnreadable, read_bounded
from gateway.intake.jsontext import MAX_APPLICATION_BYTES

LIMIT = MAX_APPLICATION_BYTES


def test_regular_file_within_limit(tmp_path: Path) -> None:
    path = tmp_path / "app.json"
    path.write_bytes(b"x" * LIMIT)
    assert read_bounded(path, LIMIT) == b"x" * LIMIT
    assert read_bounded(str(path), LIMIT) == b"x" * LIMIT


def test_oversize_regular_file(tmp_path: Path) -> None:
    path = tmp_path / "big.json"
    with path.open("wb") as f:  # sparse: 2 GB on paper, nothing on disk
        f.truncate(2 * 1024**3)
    with pytest.raises(InputTooLarge) as exc:
        read_bounded(path, LIMIT)
    assert exc.value.limit == LIMIT
    assert str(exc.value) == f"{path}: larger than {LIMIT} bytes"


def test_dev_zero_is_too_large_not_endless() -> None:
    with pytest.raises(InputTooLarge):
        read_bounded("/dev/zero", LIMIT)


def test_dev_null_is_empty() -> None:
    assert read_bounded("/dev/null", LIMIT) == b""


def _fifo_writer(path: Path, data: bytes) -> threading.Thread:
    def write() -> None:
        try:
            with path.open("wb") as f:
                f.write(data)
        except BrokenPipeError:
            pass  # the reader stopped at limit+1 bytes and closed its end: as intended

    thread = threading.Thread(target=write, daemon=True)
    thread.start()
    return thread


def test_fifo_within_limit(tmp_path: Path) -> None:
    fifo = tmp_path / "in"
    os.mkfifo(fifo)
    writer = _fifo_writer(fifo, b"{}")
    assert read_bounded(fifo, LIMIT) == b"{}"
    writer.join(5)


def test_fifo_over_limit(tmp_path: Path) -> None:
    fifo = tmp_path / "in"
    os.mkfifo(fifo)
    writer = _fifo_writer(fifo, b"x" * (3 * LIMIT))
    with pytest.raises(InputTooLarge):
        read_bounded(fifo, LIMIT)
    writer.join(5)
    assert not writer.is_alive()


def test_directory(tmp_path: Path) -> None:
    with pytest.raises(InputUnreadable, match="Is a directory") as exc:
        read_bounded(tmp_path, LIMIT)
    assert str(exc.value).startswith(f"cannot read {tmp_path}: ")


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(InputUnreadable, match="No such file"):
        read_bounded(tmp_path / "nope.json", LIMIT)


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files whatever their mode")
def test_permission_denied(tmp_path: Path) -> None:
    path = tmp_path / "secret.json"
    path.write_bytes(b"{}")
    path.chmod(0)
    with pytest.raises(InputUnreadable, match="Permission denied"):
        read_bounded(path, LIMIT)


_CHILD = """
import sys
from gateway.inputs import InputError, read_bounded
try:
    data = read_bounded("-", int(sys.argv[1]))
except InputError as exc:
    print(exc)
    sys.exit(2)
print(len(data))
"""


def _read_stdin_in_child(stdin: object, limit: int) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", _CHILD, str(limit)],
        stdin=stdin,  # type: ignore[arg-type]
        capture_output=True,
        text=True,
        timeout=30,
    )


def test_stdin_within_limit() -> None:
    child = subprocess.run(
        [sys.executable, "-c", _CHILD, str(LIMIT)],
        input="{}",
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert (child.returncode, child.stdout.strip()) == (0, "2")


def test_stdin_from_dev_zero() -> None:
    with open("/dev/zero", "rb") as zero:
        child = _read_stdin_in_child(zero, LIMIT)
    assert child.returncode == 2
    assert child.stdout.strip() == f"standard input: larger than {LIMIT} bytes"
