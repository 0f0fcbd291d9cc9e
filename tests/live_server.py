"""Run the real app under uvicorn on a loopback port, in a background thread, for HTTP tests.

    with serve_app(create_app(settings, db=db, run_worker=False)) as base_url:
        httpx.get(f"{base_url}/health")

The socket is bound before uvicorn starts (port 0, so the kernel picks a free one), which leaves
no window for another process to take the port between choosing and binding it.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import uvicorn

STARTUP_TIMEOUT_SECONDS = 15.0


@contextmanager
def serve_app(app: Any, *, host: str = "127.0.0.1", **config: Any) -> Iterator[str]:
    """Serve `app` (lifespan included) until the block ends; yield its base URL."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, 0))
    port = sock.getsockname()[1]
    config.setdefault("log_level", "warning")
    server = uvicorn.Server(uvicorn.Config(app, host=host, port=port, lifespan="on", **config))
    failure: list[BaseException] = []

    def run() -> None:
        try:
            server.run(sockets=[sock])
        except BaseException as exc:  # noqa: BLE001 - reported to the test thread below
            failure.append(exc)

    thread = threading.Thread(target=run, name=f"live-server-{port}", daemon=True)
    thread.start()
    deadline = time.monotonic() + STARTUP_TIMEOUT_SECONDS
    while not server.started:
        # uvicorn exits (rather than raising) when the lifespan fails, so watch the thread too.
        if failure or not thread.is_alive():
            sock.close()
            raise RuntimeError(f"uvicorn did not start: {failure[0] if failure else 'server thread exited'}")
        if time.monotonic() > deadline:
            server.should_exit = True
            sock.close()
            raise RuntimeError(f"uvicorn did not start within {STARTUP_TIMEOUT_SECONDS}s")
        time.sleep(0.01)
    try:
        yield f"http://{host}:{port}"
    finally:
        server.should_exit = True
        thread.join(STARTUP_TIMEOUT_SECONDS)
        sock.close()
        if thread.is_alive():
            raise RuntimeError("uvicorn did not shut down in time")
