"""Each Run primitive over real HTTP through the SDK against the loopback server."""

from __future__ import annotations

import re
import threading
import time
from typing import Any

import pytest
from rt_helpers import Answer, make_config

from reviewbot.runtime import AgentError, ModelsUnavailable, Run
from reviewbot.runtime.events import AgentFinished, Escalation, PhaseStarted
from reviewbot.testing import MessagesRequest, Reply, Router


def echo(req: MessagesRequest) -> dict[str, str]:
    return {"answer": f"{req.role}:{req.last_user_text}"}


def test_agent_returns_validated_result_with_tier_routing(server_factory, runs) -> None:
    srv = server_factory(echo)

    async def body(run: Run) -> tuple[Answer, Answer]:
        with run.phase("look"):
            a = await run.agent("find bugs", schema=Answer, role="finder")
        b = await run.agent("judge this", schema=Answer, role="judge", phase="decide")
        return a, b

    (a, b), run = runs(srv)(body)
    assert a == Answer(answer="finder:find bugs")
    assert b.answer == "judge:judge this"
    models = [r.model for r in srv.requests]
    assert models == ["claude-haiku-5-5", "claude-opus-5-5"]  # finder fast, judge deep
    assert run.stats.total.agents == 2
    assert set(run.stats.by_phase) == {"look", "decide"}
    assert set(run.stats.by_tier) == {"fast", "deep"}
    assert run.stats.total.cost_usd > 0
    assert run.stats.total.usage.output_tokens > 0
    assert any(isinstance(e, PhaseStarted) and e.phase == "look" for e in runs.events)


def test_explicit_tier_overrides_role(server_factory, runs) -> None:
    srv = server_factory(echo)

    async def body(run: Run) -> Answer:
        return await run.agent("x", schema=Answer, role="finder", tier="balanced")

    runs(srv)(body)
    assert srv.requests[0].model == "claude-sonnet-5-5"


def test_parallel_failed_branch_is_none_and_recorded(server_factory, runs) -> None:
    def handler(req: MessagesRequest) -> Any:
        if "broken" in req.last_user_text or "not valid" in req.last_user_text:
            return {"wrong": "shape"}  # schema-invalid twice: this agent fails
        return echo(req)

    srv = server_factory(handler)

    async def harness_bug() -> Answer:
        raise KeyError("missing")

    async def body(run: Run) -> list[Answer | None]:
        return await run.parallel(
            [
                lambda: run.agent("one", schema=Answer, role="finder"),
                lambda: run.agent("broken", schema=Answer, role="finder"),
                harness_bug,
                lambda: run.agent("three", schema=Answer, role="finder"),
            ]
        )

    results, run = runs(srv)(body)
    assert [r.answer if r else None for r in results] == ["finder:one", None, None, "finder:three"]
    assert run.stats.total.failed == 1
    assert len(run.stats.errors) == 2
    assert "invalid output after one retry" in run.stats.errors[0] or "invalid" in " ".join(
        run.stats.errors
    )
    assert any("KeyError" in e for e in run.stats.errors)


def test_pipeline_has_no_barrier_and_keeps_order(server_factory, runs) -> None:
    # Item "slow" takes 1.5 s in stage 1; every other call answers at once.
    def handler(req: MessagesRequest) -> Any:
        if "stage1 item-slow" in req.last_user_text:
            time.sleep(1.5)
        return echo(req)

    srv = server_factory(handler)
    marks: list[tuple[str, int, float]] = []
    lock = threading.Lock()

    def stage(k: int):  # noqa: ANN202
        async def run_stage(value: Any) -> Any:
            item = value if k == 1 else value["item"]
            result = await run_ref["run"].agent(
                f"stage{k} {item}", schema=Answer, role="finder"
            )
            with lock:
                marks.append((item, k, time.monotonic()))
            return {"item": item, "trail": [*(value.get("trail", []) if k > 1 else []),
                                            result.answer]}

        return run_stage

    run_ref: dict[str, Run] = {}

    async def body(run: Run) -> list[Any]:
        run_ref["run"] = run
        items = ["item-slow", *[f"item-{i}" for i in range(5)]]
        return await run.pipeline(items, stage(1), stage(2), stage(3))

    results, run = runs(srv, config=make_config(concurrency=4))(body)
    done = {(item, k): t for item, k, t in marks}
    # An early item went through all three stages before the slow one left stage 1.
    assert done[("item-0", 3)] < done[("item-slow", 1)]
    assert [r["item"] for r in results] == ["item-slow", *[f"item-{i}" for i in range(5)]]
    assert results[2]["trail"] == [f"finder:stage{k} item-1" for k in (1, 2, 3)]
    assert run.stats.total.agents == 18


def test_pipeline_failure_drops_only_that_item(server_factory, runs) -> None:
    srv = server_factory(echo)

    async def body(run: Run) -> list[Any]:
        async def first(x: int) -> int:
            if x == 2:
                raise ValueError("bad item")
            return x * 10

        async def second(x: int) -> str:
            return (await run.agent(f"n={x}", schema=Answer, role="finder")).answer

        return await run.pipeline(range(4), first, second)

    results, run = runs(srv)(body)
    assert results == ["finder:n=0", "finder:n=10", None, "finder:n=30"]
    assert run.stats.errors == ["pipeline item 2 stage 1: ValueError: bad item"]


def test_until_dry_dedups_against_all_seen_including_rejected(server_factory, runs) -> None:
    # Rounds keep returning the rejected "x": deduplicating only against accepted
    # items would make every round look new and never converge.
    def handler(req: MessagesRequest) -> Any:
        m = re.search(r"candidate (\w+)", req.last_user_text)
        assert m
        return {"answer": "no" if m.group(1) == "x" else "yes"}

    srv = server_factory(handler)
    rounds_script = [["a", "b", "x"], ["b", "c", "x"], ["x", "a"], ["x"], ["d"], ["e"]]
    calls: list[int] = []

    async def body(run: Run) -> list[str]:
        async def round_fn(i: int) -> list[str]:
            calls.append(i)
            return rounds_script[i]

        async def accept(item: str) -> bool:
            verdict = await run.agent(f"check candidate {item}", schema=Answer, role="skeptic")
            return verdict.answer == "yes"

        return await run.until_dry(round_fn, key=lambda s: s, dry_rounds=2, max_rounds=6,
                                   accept=accept)

    found, run = runs(srv)(body)
    assert found == ["a", "b", "c"]
    assert calls == [0, 1, 2, 3]  # two dry rounds (2 and 3) end the loop
    checked = [r.last_user_text for r in srv.requests]
    assert checked.count("check candidate x") == 1  # the rejected item was checked once


def test_until_dry_is_bounded_by_max_rounds(runs) -> None:
    async def body(run: Run) -> list[int]:
        async def round_fn(i: int) -> list[int]:
            return [i]  # always something new

        return await run.until_dry(round_fn, key=lambda v: v, max_rounds=5)

    found, _ = runs(None)(body)
    assert found == [0, 1, 2, 3, 4]


def _skeptic_by_angle(verdicts: dict[str, str]):  # noqa: ANN202
    def answer(req: MessagesRequest) -> dict[str, str]:
        angle = re.search(r"from this angle: (\w+)", req.last_user_text)
        assert angle, req.last_user_text
        return {"verdict": verdicts[angle.group(1)], "reason": f"checked {angle.group(1)}"}

    return answer


def test_vote_unanimous_stands_without_judge(server_factory, runs) -> None:
    router = Router().role("skeptic", _skeptic_by_angle(dict.fromkeys("ABC", "refuted")))
    srv = server_factory(router)

    async def body(run: Run) -> Any:
        return await run.vote("off-by-one in loop", angles=["A", "B", "C"], phase="verify")

    result, run = runs(srv)(body)
    assert result.verdict == "refuted" and not result.escalated and result.judge is None
    assert [v.angle for v in result.votes] == ["A", "B", "C"]
    assert {r.role for r in srv.requests} == {"skeptic"}
    assert len(srv.requests) == 3
    # each skeptic is blind to the others: no request mentions another angle
    for r in srv.requests:
        assert sum(f"angle: {a}" in r.all_text for a in "ABC") == 1
    assert all(v.model == "claude-haiku-5-5" for v in result.votes)


def test_vote_split_escalates_to_deep_judge(server_factory, runs) -> None:
    router = (
        Router()
        .role("skeptic", _skeptic_by_angle({"A": "confirmed", "B": "refuted", "C": "confirmed"}))
        .role("judge", lambda req: {"verdict": "confirmed", "reason": "B missed the guard"})
    )
    srv = server_factory(router)

    async def body(run: Run) -> Any:
        return await run.vote("null deref in parse()", angles=["A", "B", "C"])

    result, run = runs(srv)(body)
    assert result.escalated and result.verdict == "confirmed"
    assert result.judge is not None and result.judge.model == "claude-opus-5-5"
    judge_req = [r for r in srv.requests if r.role == "judge"]
    assert len(judge_req) == 1 and judge_req[0].model == "claude-opus-5-5"
    # the judge sees the claim and every skeptic's reason
    for angle in "ABC":
        assert f"checked {angle}" in judge_req[0].all_text
    assert "null deref in parse()" in judge_req[0].all_text
    assert any(isinstance(e, Escalation) for e in runs.events)


def test_vote_all_skeptics_failing_is_an_agent_error(server_factory, runs) -> None:
    srv = server_factory(lambda req: {"nope": 1})

    async def body(run: Run) -> Any:
        return await run.vote("claim", angles=["A", "B"])

    with pytest.raises(AgentError, match="every skeptic failed"):
        runs(srv)(body)


def test_without_model_service_agents_raise_one_line_error(runs) -> None:
    async def body(run: Run) -> Any:
        assert not run.models_available
        run.skip_phase("review", "no model service configured")
        # run-fatal even inside parallel: every agent would fail the same way
        return await run.parallel([lambda: run.agent("x", schema=Answer, role="finder")])

    with pytest.raises(ModelsUnavailable, match="ANTHROPIC_API_KEY"):
        runs(None)(body)


def test_events_are_typed_and_counted(server_factory, runs) -> None:
    srv = server_factory(echo)

    async def body(run: Run) -> Any:
        return await run.parallel(
            [lambda i=i: run.agent(f"q{i}", schema=Answer, role="finder") for i in range(3)]
        )

    runs(srv)(body)
    finished = [e for e in runs.events if isinstance(e, AgentFinished)]
    assert len(finished) == 3 and all(e.cost_usd > 0 and e.usage.total_tokens for e in finished)


def test_agent_with_tools_and_shared_context(server_factory, runs) -> None:
    from reviewbot.models import tool

    @tool
    def line_count(path: str) -> int:
        """Number of lines in a file of the change."""
        return {"a.py": 120}[path]

    def handler(req: MessagesRequest) -> Any:
        if req.tool_results:
            return {"answer": f"{req.tool_results[0].name}={req.tool_results[0].text}"}
        assert req.tools == ["line_count"]
        return Reply.tool_use("line_count", {"path": "a.py"})

    srv = server_factory(handler)

    async def body(run: Run) -> Answer:
        return await run.agent("How long is a.py?", schema=Answer, role="finder",
                               tools=[line_count], context=["<data>repo summary</data>"])

    result, run = runs(srv)(body)
    assert result.answer == "line_count=120"
    assert len(srv.requests) == 2 and run.stats.total.agents == 1
    assert "repo summary" in srv.requests[0].all_text
