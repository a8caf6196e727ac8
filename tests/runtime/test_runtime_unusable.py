"""An answer or input an agent cannot use fails that agent; the run keeps the others."""

from __future__ import annotations

from typing import Any

from rt_helpers import Answer, make_config

from reviewbot.report.cost import cost_line
from reviewbot.runtime import Run
from reviewbot.runtime.events import AgentFailure, AgentStarted
from reviewbot.testing import MessagesRequest, Reply


def route(req: MessagesRequest) -> Any:
    if "html" in req.last_user_text:
        return Reply.html()
    if "json" in req.last_user_text:
        return Reply.malformed(b'{"type": "error_page", "detail": "upstream"}')
    if "blank" in req.last_user_text or "not valid" in req.last_user_text:
        return Reply.text("   \n")
    return {"answer": "ok"}


def test_unusable_answers_and_inputs_fail_single_agents_and_are_counted(
    server_factory, runs
) -> None:
    srv = server_factory(route)
    prompts = ["good 1", "html please", "json please", "blank please", " \n ", "nul\x00", "good 2"]

    async def body(run: Run) -> list[Any]:
        return await run.parallel(
            [lambda p=p: run.agent(p, schema=Answer, role="finder") for p in prompts]
        )

    results, run = runs(srv, config=make_config(models={"max_retries": 1}))(body)
    assert [r.answer if r else None for r in results] == ["ok", None, None, None, None, None, "ok"]
    assert not run.stats.partial
    assert run.stats.total.agents == 7 and run.stats.total.failed == 5
    assert "cost: 7 agents (5 failed)" in cost_line(run.stats)
    errors = "\n".join(run.stats.errors)
    assert errors.count("malformed response") == 2
    assert "invalid output after one retry" in errors
    assert "cannot be sent: the prompt is blank" in errors
    assert "cannot be sent: the prompt contains a NUL byte" in errors
    assert all("\n" not in e for e in run.stats.errors)
    # every failure is a started agent for progress displays, never one left running
    started = sum(isinstance(e, AgentStarted) for e in runs.events)
    failed = sum(isinstance(e, AgentFailure) for e in runs.events)
    assert (started, failed) == (7, 5)
    # nothing we sent was refused (no whitespace-only block echoed back)
    assert srv.rejections == []
