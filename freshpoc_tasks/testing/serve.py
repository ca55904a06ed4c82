"""An ASGI app served on a free loopback port in a background thread, for tests and benchmarks.

Tests of the query API and the MCP server, and the MCP latency benchmark, talk to the app over
real HTTP (as clients do) without Airflow's api-server in the way; they all need the same few
steps — pick a free port, start uvicorn in a thread, wait until it listens, stop it — so the
steps live here once. uvicorn is imported on use: the package's core install does not have it.
"""

from __future__ import annotations

import socket
import threading
import time
from typing import Any


class ServedApp:
    """A running server: ``url`` is its base URL; ``stop()`` (or leaving ``with``) ends it."""

    def __init__(self, app: Any, startup_timeout: float = 30.0) -> None:
        import uvicorn

        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        self.url = f"http://127.0.0.1:{port}"
        self._server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port,
                                                     log_level="warning"))
        self._thread = threading.Thread(target=self._server.run, daemon=True)
        self._thread.start()
        deadline = time.monotonic() + startup_timeout
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                self.stop()
                raise RuntimeError(f"uvicorn did not start on {self.url}")
            time.sleep(0.05)

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=10)

    def __enter__(self) -> ServedApp:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
