"""The embedded worker stopping as a task arrives says so in one line, not a traceback; any
other error of the worker keeps its traceback."""

from __future__ import annotations

import logging
import threading

import pytest

from gateway.delivery.embedded import _TaskArrivingAtStop


def record(error: BaseException) -> logging.LogRecord:
    try:
        raise error
    except BaseException as exc:  # noqa: BLE001 - any error, as Celery logs it
        info = (type(exc), exc, exc.__traceback__)
    return logging.LogRecord(
        "celery.worker.worker", logging.CRITICAL, __file__, 1, "Unrecoverable error: %r", (), info
    )


def test_a_task_arriving_at_stop_is_one_line(caplog: pytest.LogCaptureFixture) -> None:
    stopping = threading.Event()
    late = _TaskArrivingAtStop(stopping)
    arriving = RuntimeError("cannot schedule new futures after shutdown")
    assert late.filter(record(arriving))  # not stopping: an error like any other
    stopping.set()
    with caplog.at_level(logging.INFO, logger="gateway.delivery.embedded"):
        assert not late.filter(record(arriving))
    assert "stays due" in caplog.text and "Traceback" not in caplog.text
    assert late.filter(record(RuntimeError("database is locked")))
    assert late.filter(record(ValueError("shutdown")))
