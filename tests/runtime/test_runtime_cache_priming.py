"""Sibling agents that share a cacheable prefix read it from the cache instead of each
writing it: the first one goes ahead, the rest start once its answer is in."""

from __future__ import annotations

from typing import Any

import pytest
from rt_helpers import Answer, make_config

from reviewbot.runtime import Run
from reviewbot.runtime.events import AgentFinished
from reviewbot.testing import Fixed, MessagesRequest

SHARED = "def handler(request):\n    return request.body\n" * 300  # ~3,600 tokens


def _answer(req: MessagesRequest) -> dict[str, str]:
    return {"answer": req.last_user_text[-20:]}


@pytest.mark.parametrize(("prime", "writers"), [(True, 1), (False, 5)])
def test_siblings_read_the_shared_prefix_from_the_cache(
    server_factory, runs, prime: bool, writers: int
) -> None:
    # The server takes 0.3 s per answer, as a real model takes seconds: siblings overlap.
    srv = server_factory(_answer, min_cache_tokens=1024, latency=Fixed(0.3))

    async def body(run: Run) -> list[Any]:
        async def finder(dimension: str) -> Answer:
            return await run.agent(
                f"Review for {dimension}.", schema=Answer, role="finder", context=[SHARED]
            )

        dims = ["correctness", "security", "performance", "errors", "tests"]
        return await run.parallel([lambda d=d: finder(d) for d in dims])

    results, run = runs(srv, config=make_config(concurrency=8, prime_caches=prime))(body)
    assert all(r is not None for r in results)
    finished = [e for e in runs.events if isinstance(e, AgentFinished)]
    assert len(finished) == 5
    writes = [e.usage.cache_creation_input_tokens for e in finished]
    reads = [e.usage.cache_read_input_tokens for e in finished]
    # Primed: one agent wrote the shared prefix and the four siblings read it. Unprimed:
    # all five were sent before any answer came back, so each paid the write.
    assert sum(1 for w in writes if w > 0) == writers
    assert sum(1 for r in reads if r > 0) == 5 - writers


def test_small_prefixes_do_not_wait_for_each_other(server_factory, runs) -> None:
    srv = server_factory(_answer, latency=Fixed(0.2))

    async def body(run: Run) -> list[Any]:
        return await run.parallel(
            [
                lambda i=i: run.agent(f"q{i}", schema=Answer, role="finder", context=["tiny"])
                for i in range(6)
            ]
        )

    runs(srv, config=make_config(concurrency=8))(body)
    assert srv.peak_in_flight >= 2  # no serialisation behind a first agent
