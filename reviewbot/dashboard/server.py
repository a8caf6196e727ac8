"""Serving the dashboard with uvicorn on 127.0.0.1 only, with a random per-start token."""

from __future__ import annotations

import asyncio
import secrets
import socket
import threading
from pathlib import Path

import uvicorn

from reviewbot.dashboard.app import create_app

HOST = "127.0.0.1"


def bind(port: int = 0) -> socket.socket:
    """A listening socket on loopback (port 0: a free one)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((HOST, port))
    sock.listen(128)
    sock.setblocking(False)
    return sock


class Dashboard:
    """One dashboard server: ``run()`` blocks; ``start()``/``stop()`` use a thread (tests)."""

    def __init__(self, state: Path, *, port: int = 0, token: str | None = None,
                 title: str = "reviewbot", repo_root: Path | None = None) -> None:
        self.state = state
        self.token = token or secrets.token_urlsafe(18)
        self.app = create_app(state, self.token, title=title, repo_root=repo_root)
        self.sock = bind(port)
        self.port: int = self.sock.getsockname()[1]
        config = uvicorn.Config(
            self.app, log_level="warning", access_log=False, lifespan="off",
            timeout_graceful_shutdown=2,
        )
        self.server = uvicorn.Server(config)
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        return f"http://{HOST}:{self.port}"

    @property
    def url(self) -> str:
        return f"{self.base_url}/?token={self.token}"

    def run(self) -> None:
        try:
            asyncio.run(self.server.serve(sockets=[self.sock]))
        finally:
            self.sock.close()

    def start(self) -> Dashboard:
        self._thread = threading.Thread(target=self.run, name="dashboard", daemon=True)
        self._thread.start()
        while not self.server.started:
            if not self._thread.is_alive():
                raise RuntimeError("the dashboard server did not start")
            threading.Event().wait(0.02)
        return self

    def stop(self) -> None:
        self.app.state.shutting_down = True  # event streams end
        self.server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)

    def __enter__(self) -> Dashboard:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
