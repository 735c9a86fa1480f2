"""Reading an input whose size we do not control, without holding more than the limit.

``Path.read_bytes()`` reads to the end before anyone can compare the size: ``/dev/zero``, a
pipe that never closes or a multi-gigabyte file fills memory first. :func:`read_bounded` asks
for one byte more than the limit, so "too large" is known after reading at most limit+1 bytes.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, BinaryIO

STDIN = "-"


class InputError(Exception):
    """An input that cannot be used; the message is meant for the person who gave it."""


class InputTooLarge(InputError):
    def __init__(self, source: str, limit: int):
        self.source = source
        self.limit = limit
        super().__init__(f"{source}: larger than {limit} bytes")


class InputUnreadable(InputError):
    def __init__(self, source: str, reason: str):
        self.source = source
        self.reason = reason
        super().__init__(f"cannot read {source}: {reason}")


def read_bounded(source: str | Path, limit: int) -> bytes:
    """The whole of ``source`` ("-" is standard input) if it holds at most ``limit`` bytes.

    Works on regular files, pipes and character devices alike: nothing asks for the size up
    front (``stat`` says 0 for a pipe or a device).
    """
    if limit < 0:
        raise ValueError("limit must not be negative")
    if isinstance(source, str) and source == STDIN:
        return _read(sys.stdin.buffer, limit, "standard input")
    name = str(source)
    try:
        # Opening a directory fails here on POSIX (EISDIR) rather than at the first read.
        with open(source, "rb") as stream:
            return _read(stream, limit, name)
    except OSError as exc:
        raise InputUnreadable(name, exc.strerror or str(exc)) from None


def parse_json(data: bytes) -> Any:
    """Any JSON value in ``data`` (an object, or an array of texts, say), held to the intake's
    rules for an application's text (:func:`gateway.intake.jsontext.read_value`), or
    :class:`~gateway.intake.problems.ApplicationRejected` saying why."""
    from gateway.intake.jsontext import read_value

    return read_value(data)


def _read(stream: BinaryIO, limit: int, name: str) -> bytes:
    try:
        # A buffered read(n) keeps reading a pipe until n bytes or end of file.
        data = stream.read(limit + 1)
    except OSError as exc:
        raise InputUnreadable(name, exc.strerror or str(exc)) from None
    if len(data) > limit:
        raise InputTooLarge(name, limit)
    return data
