"""Hedged requests (runtime.hedge): a request running past its siblings' quantile gets one
duplicate, the first answer wins, the loser is booked, and the budget still holds."""

from __future__ import annotations

import re
import threading
import time
from collections import Counter
from typing import Any

from rt_helpers import Answer, make_config

from reviewbot.models import cost_usd
from reviewbot.runtime import Run
from reviewbot.testing import MessagesRequest

ITEM = re.compile(r"item (\d+)")
SLOW_ITEM = 30
SLOW_SECONDS = 4.0


def slow_once() -> tuple[Any, Counter[int]]:
    """Every request answers in 50 ms, but the first request of item 30 takes 4 s (a
    request stuck in the tail; a duplicate of it is answered at the usual speed)."""
    seen: Counter[int] = Counter()
    lock = threading.Lock()

    def handler(req: MessagesRequest) -> Any:
        item = int(ITEM.search(req.last_user_text).group(1))  # type: ignore[union-attr]
        with lock:
            seen[item] += 1
            nth = seen[item]
        time.sleep(SLOW_SECONDS if item == SLOW_ITEM and nth == 1 else 0.05)
        return {"answer": f"a{item}"}

    return handler, seen


def fan_out(runs: Any, srv: Any, *, hedge: bool, budget_usd: float | None = None) -> tuple[
        list[Any], Run, float]:
    config = make_config(concurrency=8, max_agents=100, budget_usd=budget_usd, hedge=hedge,
                         hedge_min_samples=10)

    async def body(run: Run) -> list[Any]:
        return await run.parallel(
            [lambda i=i: run.agent(f"item {i}", schema=Answer, role="finder")
             for i in range(40)]
        )

    started = time.monotonic()
    answers, run = runs(srv, config=config, run_id=f"hedge-{hedge}-{budget_usd}")(body)
    return answers, run, time.monotonic() - started


def test_a_request_in_the_tail_is_hedged_and_the_duplicate_wins(server_factory, runs) -> None:
    handler, seen = slow_once()
    srv = server_factory(handler)
    answers, run, wall = fan_out(runs, srv, hedge=True)
    assert all(a is not None for a in answers)
    assert seen[SLOW_ITEM] == 2  # one duplicate for the stuck request
    assert run.stats.hedges >= 1
    assert wall < SLOW_SECONDS  # the duplicate's answer did not wait for the stuck one
    # the loser is booked: what we count is at least what the server billed
    assert run.stats.total.cost_usd >= cost_usd("claude-haiku-5-5", srv.usage) - 1e-12


def test_without_hedging_the_tail_waits(server_factory, runs) -> None:
    handler, seen = slow_once()
    srv = server_factory(handler)
    _, run, wall = fan_out(runs, srv, hedge=False)
    assert seen[SLOW_ITEM] == 1 and run.stats.hedges == 0
    assert wall >= SLOW_SECONDS


def test_a_hedge_is_reserved_only_when_its_worst_case_fits() -> None:
    from reviewbot.models.usage import Usage
    from reviewbot.runtime.scheduler import Scheduler

    sched = Scheduler(concurrency=4, max_agents=10, budget_usd=0.01,
                      cost_of=lambda model, usage: usage.input_tokens * 1e-6
                      + usage.output_tokens * 5e-6)
    # 900 output tokens cost $0.0045 at most: two such reservations fit in $0.01, not three
    first = sched.try_reserve("m", 0, 900)
    second = sched.try_reserve("m", 0, 900)
    assert first is not None and second is not None
    assert sched.try_reserve("m", 0, 900) is None
    sched.book(first, Usage(input_tokens=100), 1e-4)  # settles: the room comes back
    sched.release(first)
    assert sched.try_reserve("m", 0, 900) is not None
    sched.stop("budget")
    assert sched.try_reserve("m", 0, 10) is None  # a stopped run sends no duplicate
