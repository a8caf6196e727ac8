"""Failure paths: timeouts, invalid output, rate limits, budget stop, backstop, fatal errors."""

from __future__ import annotations

from typing import Any

import pytest
from rt_helpers import Answer, make_config

from reviewbot.errors import ModelServiceError
from reviewbot.runtime import AgentError, Run, RunStopped
from reviewbot.runtime.events import Stopped
from reviewbot.testing import MessagesRequest, Reply, Script


def echo(req: MessagesRequest) -> dict[str, str]:
    return {"answer": f"{req.role}:{req.last_user_text}"}


def test_agent_timeout_fails_that_agent_only(server_factory, runs) -> None:
    def handler(req: MessagesRequest) -> Any:
        if "hang" in req.last_user_text:
            return Reply.hang(5)
        return echo(req)

    srv = server_factory(handler)

    async def body(run: Run) -> Any:
        with pytest.raises(AgentError, match="timed out after 0.3s"):
            await run.agent("hang", schema=Answer, role="finder", timeout=0.3)
        return await run.parallel(
            [
                lambda: run.agent("hang please", schema=Answer, role="finder", timeout=0.3),
                lambda: run.agent("fine", schema=Answer, role="finder"),
            ]
        )

    results, run = runs(srv)(body)
    assert results[0] is None and results[1] == Answer(answer="finder:fine")
    assert run.stats.total.failed == 2
    assert all("timed out" in e for e in run.stats.errors)


def test_invalid_output_is_retried_once_with_feedback(server_factory, runs) -> None:
    srv = server_factory(Script([{"answer": 42}, {"answer": "second try"}]))

    async def body(run: Run) -> Answer:
        return await run.agent("q", schema=Answer, role="finder")

    result, run = runs(srv)(body)
    assert result.answer == "second try"
    assert len(srv.requests) == 2
    assert "not valid" in srv.requests[1].last_user_text
    assert run.stats.total.failed == 0


def test_invalid_output_twice_fails_agent_not_run(server_factory, runs) -> None:
    srv = server_factory(Script([{"answer": 1}, {"answer": 2}, {"answer": "ok"}]))

    async def body(run: Run) -> Any:
        first = await run.parallel([lambda: run.agent("q", schema=Answer, role="finder")])
        second = await run.agent("again", schema=Answer, role="finder")
        return first, second

    (first, second), run = runs(srv)(body)
    assert first == [None] and second.answer == "ok"
    assert run.stats.total.failed == 1 and "invalid output" in run.stats.errors[0]
    # the failed agent's tokens still count
    assert run.stats.total.usage.output_tokens > 0


def test_rate_limit_is_retried_honouring_retry_after(server_factory, runs) -> None:
    srv = server_factory(Script([Reply.rate_limited(0.05), {"answer": "after 429"}]))

    async def body(run: Run) -> Answer:
        return await run.agent("q", schema=Answer, role="finder")

    result, run = runs(srv)(body)
    assert result.answer == "after 429"
    assert [e.status for e in srv.errors] == [429]
    assert run.stats.total.failed == 0 and run.stats.total.agents == 1


def test_unknown_model_is_run_fatal(server_factory, runs) -> None:
    srv = server_factory(echo, models=["claude-haiku-5-5"])
    config = make_config(models={"tiers": {"fast": "claude-haiku-5-5", "balanced": "claude-nope",
                                           "deep": "claude-nope"}})

    async def body(run: Run) -> Any:
        return await run.parallel(
            [
                lambda: run.agent("a", schema=Answer, role="finder"),
                lambda: run.agent("b", schema=Answer, role="judge"),
            ]
        )

    with pytest.raises(ModelServiceError, match="claude-nope"):
        runs(srv, config=config)(body)
    srv.stop()
    srv._errors.clear()  # the 404 was the point of this test


LONG = "x" * 4000  # ~1000 output tokens: $0.005 on the fast tier


def test_budget_stop_returns_partial_result_without_overshoot(server_factory, runs) -> None:
    srv = server_factory(lambda req: {"answer": LONG})
    config = make_config(concurrency=4, budget_usd=0.03, models={"max_tokens": 2000})

    async def body(run: Run) -> list[Any]:
        async def one(i: int) -> str:
            return (await run.agent(f"item {i}", schema=Answer, role="finder")).answer[:3]

        out = await run.pipeline(range(20), one)
        assert run.stopped and run.stop_reason == "budget"
        with pytest.raises(RunStopped):
            await run.agent("after stop", schema=Answer, role="finder")
        return out

    results, run = runs(srv, config=config)(body)
    done = [r for r in results if r is not None]
    assert 3 <= len(done) < 20 and len(done) == srv.calls
    assert run.stats.partial and run.stats.stop_reason == "budget"
    assert run.stats.total.cost_usd <= 0.03 + 1e-9
    assert run.stats.total.cost_usd > 0.02
    assert sum(isinstance(e, Stopped) for e in runs.events) == 1


def test_token_budget_stops_too(server_factory, runs) -> None:
    srv = server_factory(lambda req: {"answer": LONG})
    config = make_config(concurrency=2, budget_usd=None, budget_tokens=5_000,
                         models={"max_tokens": 2000})

    async def body(run: Run) -> list[Any]:
        return await run.parallel(
            [lambda i=i: run.agent(f"item {i}", schema=Answer, role="finder") for i in range(10)]
        )

    results, run = runs(srv, config=config)(body)
    assert run.stop_reason == "budget"
    assert run.stats.total.usage.total_tokens <= 5_000
    assert 1 <= sum(r is not None for r in results) < 10


def test_backstop_stops_new_agents(server_factory, runs) -> None:
    srv = server_factory(echo)

    async def body(run: Run) -> list[Any]:
        async def one(i: int) -> str:
            return (await run.agent(f"item {i}", schema=Answer, role="finder")).answer

        return await run.pipeline(range(10), one)

    results, run = runs(srv, config=make_config(concurrency=3), max_agents=5)(body)
    assert sum(r is not None for r in results) == 5 == srv.calls
    assert run.stats.partial and run.stats.stop_reason == "max_agents"


def test_role_concurrency_cap_is_respected(server_factory, runs) -> None:
    import threading
    import time

    lock = threading.Lock()
    live = {"finder": 0, "skeptic": 0}
    peak = {"finder": 0, "skeptic": 0}

    def handler(req: MessagesRequest) -> Any:
        role = req.role or ""
        with lock:
            live[role] += 1
            peak[role] = max(peak[role], live[role])
        time.sleep(0.05)
        with lock:
            live[role] -= 1
        return echo(req)

    srv = server_factory(handler)
    config = make_config(concurrency=6, role_concurrency={"finder": 2})

    async def body(run: Run) -> Any:
        return await run.parallel(
            [lambda i=i: run.agent(f"f{i}", schema=Answer, role="finder") for i in range(8)]
            + [lambda i=i: run.agent(f"s{i}", schema=Answer, role="skeptic") for i in range(8)]
        )

    results, _ = runs(srv, config=config)(body)
    assert all(r is not None for r in results)
    assert peak["finder"] == 2
    assert peak["skeptic"] >= 3  # finders waiting on their cap hold no global slot
