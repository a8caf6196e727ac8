"""The budget is a ceiling: every model turn reserves its worst case first.

Fan-outs of 100 agents through ``Run.parallel`` over real HTTP (the real SDK against
the loopback server) whose answers grow, with invalid first answers (a retry turn),
tool loops, cache writes and reads, and injected 429s and malformed answers, across
dollar and token budgets from tiny to large. Spent never exceeds the budget (as we
book it and as the server bills it), and a run with many agents at once admits as
many agents as one that runs them one at a time (within one).
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from rt_helpers import Answer, make_config

from reviewbot.models import cost_usd, tool
from reviewbot.report.cost import cost_line
from reviewbot.runtime import Run
from reviewbot.runtime.errors import AgentError
from reviewbot.testing import Faults, MessagesRequest, Reply

MODEL = "claude-haiku-5-5"  # the fast tier
AGENTS = 100
SHARED = "def handler(request):\n    return request.body\n" * 120  # ~5.6k chars: cached
ITEM = re.compile(r"item (\d+)")


def lookup(key: str) -> str:
    """Look a key up in the repository."""
    return f"{key}: defined in a.py line 3"


def grown(req: MessagesRequest) -> Any:
    """Answers grow with the item; some items need a tool turn, some a retry."""
    match = ITEM.search(req.last_user_text) or ITEM.search(req.all_text)
    assert match is not None
    i = int(match.group(1))
    if i % 5 == 1 and req.turn == 0:
        return Reply.tool_use("lookup", {"key": f"k{i}"})
    if i % 7 == 3 and "not valid" not in req.last_user_text:
        return {"wrong": i}  # invalid output: one retry turn
    return {"answer": f"{i}:" + "y" * (40 * i)}


def fan_out(runs, srv, *, concurrency: int, budget_usd: float | None,
            budget_tokens: int | None = None, max_tokens: int = 1024) -> Run:
    config = make_config(concurrency=concurrency, budget_usd=budget_usd,
                         budget_tokens=budget_tokens, max_agents=1000,
                         models={"max_tokens": max_tokens, "max_retries": 2})

    async def body(run: Run) -> list[Any]:
        return await run.parallel(
            [lambda i=i: run.agent(f"item {i}", schema=Answer, role="finder", context=(SHARED,),
                                   tools=(tool(lookup),))
             for i in range(AGENTS)]
        )

    _, run = runs(srv, config=config, run_id=f"c{concurrency}-{budget_usd}-{budget_tokens}")(body)
    return run


def admitted(srv, before: int) -> set[int]:
    found = set()
    for req in srv.requests[before:]:
        match = ITEM.search(json.dumps(req.body["messages"][0]))
        assert match is not None
        found.add(int(match.group(1)))
    return found


def check_ceiling(run: Run, srv, before_usage, budget_usd, budget_tokens) -> None:
    stats = run.stats
    billed = srv.usage
    billed_now = type(billed)(**{k: getattr(billed, k) - getattr(before_usage, k)
                                 for k in type(billed).model_fields})
    if budget_usd is not None:
        assert stats.total.cost_usd <= budget_usd
        assert run.scheduler.spent_usd <= budget_usd
        assert cost_usd(MODEL, billed_now) <= budget_usd + 1e-12  # what the server billed
    if budget_tokens is not None:
        assert stats.total.usage.total_tokens <= budget_tokens
        assert billed_now.total_tokens <= budget_tokens
    assert abs(stats.total.cost_usd - cost_usd(MODEL, billed_now)) < 1e-9


CASES = [
    # (budget_usd, budget_tokens)
    (0.0005, None),  # tiny: less than one turn's worst case
    (0.006, None),
    (0.02, None),
    (0.05, None),
    (1.0, None),  # large: everything runs
    (None, 6_000),
    (None, 40_000),
    (None, 10**7),
]


@pytest.mark.parametrize(("budget_usd", "budget_tokens"), CASES)
def test_fan_out_never_spends_past_the_budget_and_admits_as_many_as_fit(
    server_factory, runs, budget_usd, budget_tokens
) -> None:
    srv = server_factory(grown, faults=Faults(rate_429=0.03, rate_malformed=0.01,
                                              retry_after=0.01, seed=5))
    counts = {}
    for concurrency in (1, 16):
        before, before_usage = len(srv.requests), srv.usage
        srv.cache.clear()
        run = fan_out(runs, srv, concurrency=concurrency, budget_usd=budget_usd,
                      budget_tokens=budget_tokens)
        check_ceiling(run, srv, before_usage, budget_usd, budget_tokens)
        started = admitted(srv, before)
        assert len(started) == run.stats.total.agents
        counts[concurrency] = len(started)
        if len(started) < AGENTS:
            assert run.stop_reason == "budget"
            assert "PARTIAL (budget; " in cost_line(run.stats)
            # what is left is less than one turn's worst case: no further turn fit
            first = srv.requests[before].body if started else {"x": SHARED + "y" * 3000}
            worst_input = len(json.dumps(first)) / 3 * 1.25 * 1.0 / 1e6 + 1e-4
            worst = worst_input + 1024 * 5.0 / 1e6
            if budget_usd is not None:
                assert budget_usd - run.stats.total.cost_usd < worst
            if budget_tokens is not None:
                tokens_left = budget_tokens - run.stats.total.usage.total_tokens
                assert tokens_left < len(json.dumps(first)) / 3 + 200 + 1024
        else:
            assert not run.stats.partial
    print(f"budget ${budget_usd} / {budget_tokens} tokens: admitted {counts}, "
          f"spent ${run.stats.total.cost_usd:.5f} / {run.stats.total.usage.total_tokens} tokens")
    assert abs(counts[16] - counts[1]) <= 1, counts
    if budget_usd == 1.0 or budget_tokens == 10**7:
        assert counts[16] == AGENTS
    if budget_usd == 0.0005:
        assert counts[16] == 0


def test_a_small_budget_runs_agents_with_fewer_output_tokens(server_factory, runs) -> None:
    """$0.02 is less than one default turn's worst case (4096 output tokens on the fast
    tier are $0.02); turns then go with the output tokens that fit."""
    srv = server_factory(lambda req: {"answer": "short"})
    config = make_config(concurrency=16, budget_usd=0.02)
    assert config.models.max_tokens == 4096

    async def body(run: Run) -> list[Any]:
        return await run.parallel(
            [lambda i=i: run.agent(f"item {i}", schema=Answer, role="finder") for i in range(30)]
        )

    results, run = runs(srv, config=config)(body)
    assert sum(r is not None for r in results) == 30
    assert run.stats.total.cost_usd <= 0.02
    assert all(1024 <= r.max_tokens < 4096 for r in srv.requests)


def test_a_later_turn_that_does_not_fit_is_a_budget_failure_booked_and_journaled(
    server_factory, runs
) -> None:
    srv = server_factory(lambda req: {"wrong": "y" * 3000})  # invalid: wants a retry turn
    config = make_config(concurrency=1, budget_usd=0.008, models={"max_tokens": 1000})

    async def body(run: Run) -> str:
        with pytest.raises(AgentError, match="stopped by the budget before turn 2") as failed:
            await run.agent("item 1", schema=Answer, role="finder")
        return str(failed.value)

    message, run = runs(srv, config=config)(body)
    assert "\n" not in message and "1 turn booked" in message
    assert run.stop_reason == "budget" and run.stats.total.failed == 1
    assert run.stats.total.cost_usd == pytest.approx(cost_usd(MODEL, srv.usage))
    assert 0 < run.stats.total.cost_usd <= 0.008
    assert runs.journal.call_counts(run.run_id) == {"failed": 1}
    ((error, cost),) = runs.journal._db.execute(
        "SELECT error, cost FROM agent_calls WHERE run_id=?", (run.run_id,)
    ).fetchall()
    assert "stopped by the budget" in error and cost == pytest.approx(run.stats.total.cost_usd)
    line = cost_line(run.stats)
    assert "1 agent (1 failed)" in line and "PARTIAL (budget; $0." in line and "of $0.0080" in line
