"""pytest fixtures for the loopback model server.

Enable with ``pytest_plugins = ["reviewbot.testing.pytest_plugin"]`` in a conftest.

``model_server(handler=None, **options) -> ModelServer``: starts a server (options as
for :class:`~reviewbot.testing.ModelServer`) that is stopped when the test ends; a
handler exception is then re-raised so a broken script fails the test.

``model_env(handler=None, **options) -> ModelServer``: the same, and points
``ANTHROPIC_BASE_URL`` and ``ANTHROPIC_API_KEY`` at it (the key defaults to
``"test-key"`` and the server requires it).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from reviewbot.testing.handlers import Handler
from reviewbot.testing.model_server import ModelServer

ServerFactory = Callable[..., ModelServer]


@pytest.fixture
def model_server() -> Iterator[ServerFactory]:
    servers: list[ModelServer] = []

    def start(handler: Handler | None = None, **options: Any) -> ModelServer:
        server = ModelServer(handler, **options).start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()
    for server in servers:
        server.raise_handler_errors()


@pytest.fixture
def model_env(
    model_server: ServerFactory, monkeypatch: pytest.MonkeyPatch
) -> ServerFactory:
    def start(handler: Handler | None = None, **options: Any) -> ModelServer:
        options.setdefault("api_key", "test-key")
        server = model_server(handler, **options)
        monkeypatch.setenv("ANTHROPIC_BASE_URL", server.base_url)
        monkeypatch.setenv("ANTHROPIC_API_KEY", options["api_key"] or "test-key")
        return server

    return start
