"""Latency distributions and concurrency of the loopback server."""

from __future__ import annotations

import asyncio
import math
import statistics
import time
from typing import Any

from anthropic import AsyncAnthropic

from reviewbot.testing import Fixed, Lognormal

MODEL = "claude-haiku-5-5"


def test_lognormal_draws_are_seeded_with_the_requested_median() -> None:
    a = Lognormal(median=0.5, sigma=1.0, seed=7).sample(4000)
    b = Lognormal(median=0.5, sigma=1.0, seed=7).sample(4000)
    assert a == b
    assert a != Lognormal(median=0.5, sigma=1.0, seed=8).sample(4000)
    assert abs(statistics.median(a) - 0.5) < 0.05
    # heavy tail: mean ~ median * e^(sigma^2/2)
    assert abs(statistics.fmean(a) / 0.5 - math.exp(0.5)) < 0.15
    assert max(Lognormal(median=1.0, sigma=1.0, seed=1, cap=3.0).sample(500)) == 3.0


def test_latency_over_http_has_the_configured_median(model_server: Any) -> None:
    srv = model_server(latency=Lognormal(median=0.03, sigma=0.5, seed=7))

    async def go() -> list[float]:
        c = AsyncAnthropic(base_url=srv.base_url, api_key="k")

        async def timed(i: int) -> float:
            start = time.perf_counter()
            await c.messages.create(
                model=MODEL, max_tokens=5, messages=[{"role": "user", "content": str(i)}]
            )
            return time.perf_counter() - start

        out: list[float] = []
        for batch in range(40):
            out += await asyncio.gather(*[timed(batch * 5 + i) for i in range(5)])
        return out

    durations = asyncio.run(go())
    served = srv.service_times
    assert len(served) == 200
    # the server slept the seeded draws (median 0.03 s; the draws themselves are checked
    # exactly above); the upper bound leaves room for a loaded machine oversleeping
    assert 0.027 <= statistics.median(served) <= 0.1, statistics.median(served)
    # and the client saw them (plus HTTP and SDK overhead, which load on the machine inflates)
    assert statistics.median(durations) >= 0.027, statistics.median(durations)


def test_sixty_four_concurrent_slow_requests_overlap(model_server: Any) -> None:
    srv = model_server(latency=Fixed(0.5))

    async def go() -> float:
        c = AsyncAnthropic(base_url=srv.base_url, api_key="k")
        start = time.perf_counter()
        await asyncio.gather(
            *[
                c.messages.create(
                    model=MODEL, max_tokens=5, messages=[{"role": "user", "content": str(i)}]
                )
                for i in range(96)
            ]
        )
        return time.perf_counter() - start

    wall = asyncio.run(go())
    assert srv.calls == 96
    assert srv.peak_in_flight >= 64
    # Serial handling would take 48 s and 4-way concurrency 12 s; the bound is loose on
    # purpose so a loaded machine cannot fail it, while any serialisation still does.
    assert wall < 12, wall
