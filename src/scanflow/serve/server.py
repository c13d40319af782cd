"""Run a FastAPI app under a real Uvicorn server in a background thread, on a free port.

The demo, the benchmarks and the end-to-end tests use this to talk to the API over real HTTP
while the agents run in the same process::

    >>> from fastapi import FastAPI
    >>> import httpx
    >>> api = FastAPI()
    >>> @api.get("/ping")
    ... def ping():
    ...     return {"pong": True}
    >>> with ServerThread(api) as server:
    ...     httpx.get(server.url + "/ping").json()
    {'pong': True}
"""

from __future__ import annotations

import socket
import threading
import time
from typing import Any

__all__ = ["ServerThread", "free_port"]


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


class ServerThread:
    """Uvicorn serving ``app`` on ``host:port`` (``port=0``: a free one) in a daemon thread.

    Binding anything but loopback needs ``token`` (or ``$SCANFLOW_TOKEN``): see
    :mod:`scanflow.serve.security`.
    """

    def __init__(self, app: Any, *, host: str = "127.0.0.1", port: int = 0, log_level: str = "warning",
                 token: str | None = None, timeout_keep_alive: int = 30, **config: Any):
        # lazy: uvicorn, only a running server needs it (free_port stays light)
        import uvicorn

        # lazy: scanflow.security loads FastAPI
        from ..security import check_bind

        # Beyond loopback a token is required; require_token then enforces it on every request.
        app.state.scanflow_token = check_bind(host, token)
        self.host = host
        self.port = port or free_port(host)
        self.config = uvicorn.Config(
            app, host=host, port=self.port, log_level=log_level, lifespan="on",
            timeout_keep_alive=timeout_keep_alive, **config,
        )
        self.server = uvicorn.Server(self.config)
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self, timeout: float = 60.0) -> ServerThread:
        self.server.install_signal_handlers = lambda: None  # type: ignore[method-assign]
        self._thread = threading.Thread(target=self.server.run, name="scanflow-uvicorn", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self.server.started:
            if not self._thread.is_alive():
                raise RuntimeError(f"the server on {self.url} stopped while starting (port in use?)")
            if time.monotonic() > deadline:
                raise TimeoutError(f"the server on {self.url} did not start within {timeout:.0f}s")
            time.sleep(0.02)
        return self

    def stop(self, timeout: float = 30.0) -> None:
        self.server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=timeout)
            self._thread = None

    def __enter__(self) -> ServerThread:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
