"""Steering a live run through its control file: stop ends it partial, pause holds new
agents until continue; agents already running finish either way."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

from rt_helpers import Answer, make_config

from reviewbot.runtime import Run
from reviewbot.runtime.control import STOP_REASON, read_control, write_control
from reviewbot.runtime.events import AgentFinished, AgentStarted, Note, Stopped
from reviewbot.testing import Fixed, MessagesRequest


def _answer(req: MessagesRequest) -> dict[str, str]:
    return {"answer": req.last_user_text}


def _later(seconds: float, action: Any) -> threading.Timer:
    timer = threading.Timer(seconds, action)
    timer.start()
    return timer


def test_stop_from_the_control_file_starts_no_new_agent(server_factory, runs,
                                                        tmp_path: Path) -> None:
    srv = server_factory(_answer, latency=Fixed(0.3))
    run_dir = tmp_path / "state" / "runs" / "run-1"

    async def body(run: Run) -> list[Any]:
        return await run.parallel(
            [lambda i=i: run.agent(f"q{i}", schema=Answer, role="finder") for i in range(12)]
        )

    timer = _later(0.45, lambda: write_control(run_dir, "stop"))
    results, run = runs(srv, config=make_config(concurrency=2))(body)
    timer.join()
    done = [r for r in results if r is not None]
    assert 2 <= len(done) < 12  # the agents running when it stopped finished
    assert run.stopped and run.stats.partial and run.stats.stop_reason == STOP_REASON
    assert [e.reason for e in runs.events if isinstance(e, Stopped)] == [STOP_REASON]
    started = sum(1 for e in runs.events if isinstance(e, AgentStarted))
    assert started == len(done) == len(srv.requests)
    assert read_control(run_dir) == "stop"


def test_pause_holds_new_agents_until_continue(server_factory, runs, tmp_path: Path) -> None:
    srv = server_factory(_answer, latency=Fixed(0.1))
    run_dir = tmp_path / "state" / "runs" / "run-1"
    write_control(run_dir, "pause")
    resumed_at: dict[str, float] = {}

    def resume() -> None:
        resumed_at["t"] = time.time()
        write_control(run_dir, "continue")

    async def body(run: Run) -> list[Any]:
        return await run.parallel(
            [lambda i=i: run.agent(f"q{i}", schema=Answer, role="finder") for i in range(4)]
        )

    timer = _later(0.8, resume)
    results, run = runs(srv, config=make_config(concurrency=4))(body)
    timer.join()
    assert all(r is not None for r in results) and not run.stats.partial
    starts = [e.ts for e in runs.events if isinstance(e, AgentStarted)]
    assert len(starts) == 4 and min(starts) >= resumed_at["t"]
    notes = [e.message for e in runs.events if isinstance(e, Note)]
    assert notes == ["paused by user", "resumed by user"]
    assert sum(1 for e in runs.events if isinstance(e, AgentFinished)) == 4


def test_stop_while_paused_ends_the_run(server_factory, runs, tmp_path: Path) -> None:
    srv = server_factory(_answer)
    run_dir = tmp_path / "state" / "runs" / "run-1"
    write_control(run_dir, "pause")

    async def body(run: Run) -> list[Any]:
        return await run.parallel(
            [lambda i=i: run.agent(f"q{i}", schema=Answer, role="finder") for i in range(3)]
        )

    timer = _later(0.5, lambda: write_control(run_dir, "stop"))
    results, run = runs(srv)(body)
    timer.join()
    assert results == [None, None, None] and srv.requests == []
    assert run.stats.stop_reason == STOP_REASON
