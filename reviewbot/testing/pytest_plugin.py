"""pytest fixtures for the loopback model server.

Enable with ``pytest_plugins = ["reviewbot.testing.pytest_plugin"]`` in a conftest.

``model_server(handler=None, *, allow_invalid=False, **options) -> ModelServer``:
starts a server (options as for :class:`~reviewbot.testing.ModelServer`) that is
stopped when the test ends. Then a handler exception is re-raised, so a broken
script fails the test, and any request the server refused as invalid (400) fails
it too, since the real API would have refused it as well; pass
``allow_invalid=True`` in tests that send bad requests on purpose.

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
    servers: list[tuple[ModelServer, bool]] = []

    def start(
        handler: Handler | None = None, *, allow_invalid: bool = False, **options: Any
    ) -> ModelServer:
        server = ModelServer(handler, **options).start()
        servers.append((server, allow_invalid))
        return server

    yield start
    for server, _ in servers:
        server.stop()
    for server, allow_invalid in servers:
        server.raise_handler_errors()
        invalid = [e.message for e in server.rejections if e.status == 400]
        if invalid and not allow_invalid:
            pytest.fail(
                "the loopback model server refused requests the real API would refuse too: "
                + "; ".join(invalid[:5]),
                pytrace=False,
            )


@pytest.fixture
def model_env(model_server: ServerFactory, monkeypatch: pytest.MonkeyPatch) -> ServerFactory:
    def start(handler: Handler | None = None, **options: Any) -> ModelServer:
        options.setdefault("api_key", "test-key")
        server = model_server(handler, **options)
        monkeypatch.setenv("ANTHROPIC_BASE_URL", server.base_url)
        monkeypatch.setenv("ANTHROPIC_API_KEY", options["api_key"] or "test-key")
        return server

    return start
