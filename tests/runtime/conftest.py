"""Helpers for runtime tests: a Run wired to a loopback model server over real HTTP."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import anyio
import pytest
from rt_helpers import API_KEY, make_config

from reviewbot.config import Config
from reviewbot.models import ModelAccess, make_client
from reviewbot.runtime import EventBus, Journal, Run
from reviewbot.testing import ModelServer

T = TypeVar("T")


class RunFactory:
    def __init__(self, tmp_path: Path) -> None:
        self.tmp_path = tmp_path
        self.journal = Journal(tmp_path / "state" / "journal.sqlite")
        self.events: list[Any] = []

    def __call__(
        self,
        server: ModelServer | None,
        *,
        run_id: str = "run-1",
        config: Config | None = None,
        replay: bool = False,
        **kwargs: Any,
    ) -> Callable[[Callable[[Run], Awaitable[T]]], tuple[T, Run]]:
        """Returns ``go(body)``: runs ``await body(run)`` under anyio, gives (result, run)."""
        config = config or make_config()

        def go(body: Callable[[Run], Awaitable[T]]) -> tuple[T, Run]:
            holder: dict[str, Run] = {}

            async def main() -> T:
                client = None
                if server is not None:
                    access = ModelAccess(api_key=API_KEY, base_url=server.base_url)
                    client = make_client(access, config.models)
                bus = EventBus(self.tmp_path / "state" / "runs" / run_id / "events.jsonl")
                bus.subscribe(self.events.append)
                run = Run(
                    run_id=run_id, config=config, client=client, journal=self.journal,
                    events=bus, harness="test",
                    replay=self.journal.finished_calls(run_id) if replay else None, **kwargs,
                )
                holder["run"] = run
                try:
                    return await body(run)
                finally:
                    bus.close()
                    if client is not None:
                        await client.close()

            result = anyio.run(main)
            return result, holder["run"]

        return go


@pytest.fixture
def runs(tmp_path: Path) -> Iterator[RunFactory]:
    factory = RunFactory(tmp_path)
    yield factory
    factory.journal.close()


@pytest.fixture
def server_factory() -> Iterator[Callable[..., ModelServer]]:
    servers: list[ModelServer] = []

    def start(handler: Any = None, **options: Any) -> ModelServer:
        options.setdefault("api_key", API_KEY)
        srv = ModelServer(handler, **options).start()
        servers.append(srv)
        return srv

    yield start
    for srv in servers:
        srv.stop()
    for srv in servers:
        assert srv.rejections == [], f"the server refused our requests: {srv.rejections}"
        srv.raise_handler_errors()
