"""Serving ASGI apps on loopback: for the CLI, the in-process demo and the tests.

Sandbox agencies and the gateway's own endpoints bind 127.0.0.1 only; nothing here can be
pointed at another interface.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import uvicorn

LOOPBACK = "127.0.0.1"


def free_port() -> int:
    with socket.socket() as s:
        s.bind((LOOPBACK, 0))
        return s.getsockname()[1]


def serve_forever(app: Any, port: int, *, log_level: str = "info") -> None:
    uvicorn.run(app, host=LOOPBACK, port=port, log_level=log_level)


@contextmanager
def serving(app: Any, port: int | None = None, *, log_level: str = "warning") -> Iterator[str]:
    """Run ``app`` on 127.0.0.1 in a background thread; yields its base URL."""
    port = port or free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host=LOOPBACK, port=port, log_level=log_level, lifespan="on")
    )
    thread = threading.Thread(target=server.run, name=f"asgi-{port}", daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError(f"server on {LOOPBACK}:{port} did not start")
        time.sleep(0.01)
    try:
        yield f"http://{LOOPBACK}:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=15)
