"""Loopback model server benchmark: throughput, CPU per call, latency fidelity.

The server runs in a child process (as it would beside a real harness run), the
real AsyncAnthropic client drives it from this one. Prints, for N requests at
concurrency C:

- zero latency: requests per second, server CPU ms per call, client CPU ms per call;
- lognormal latency (median M, sigma 1, fixed seed): wall-clock against the ideal
  max(longest call, sum of served times / C), the median latency the client saw against M, and
  how many requests the server held at once.

    python bench/model_server.py [--requests 2000] [--concurrency 64]
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing as mp
import resource
import statistics
import time
from multiprocessing.connection import Connection
from typing import Any

from anthropic import AsyncAnthropic

from reviewbot.testing import Lognormal, ModelServer

MODEL = "claude-haiku-5-5"
SYSTEM = [
    {
        "type": "text",
        "text": "Role: finder\n" + "Shared repository context. " * 300,
        "cache_control": {"type": "ephemeral"},
    }
]


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def serve(conn: Connection, median: float, seed: int) -> None:
    latency = Lognormal(median=median, sigma=1.0, seed=seed) if median > 0 else None
    with ModelServer(latency=latency) as srv:
        conn.send(srv.base_url)
        start = cpu_seconds()
        conn.recv()  # the client is done
        served = srv.service_times
        conn.send(
            {
                "cpu": cpu_seconds() - start,
                "calls": srv.calls,
                "peak": srv.peak_in_flight,
                "rejections": len(srv.rejections),
                "cache_read": srv.usage.cache_read_input_tokens,
                "served_sum": sum(served),
                "served_max": max(served, default=0.0),
            }
        )


async def drive(url: str, n: int, concurrency: int) -> list[float]:
    client = AsyncAnthropic(base_url=url, api_key="bench", max_retries=0)
    gate = asyncio.Semaphore(concurrency)

    async def one(i: int) -> float:
        async with gate:
            start = time.perf_counter()
            await client.messages.create(
                model=MODEL,
                max_tokens=64,
                system=SYSTEM,  # type: ignore[arg-type]
                messages=[{"role": "user", "content": f"item {i}"}],
            )
            return time.perf_counter() - start

    return list(await asyncio.gather(*[one(i) for i in range(n)]))


def measure(n: int, concurrency: int, median: float) -> dict[str, Any]:
    parent, child = mp.Pipe()
    proc = mp.Process(target=serve, args=(child, median, 7))
    proc.start()
    url = parent.recv()
    cpu0, wall0 = cpu_seconds(), time.perf_counter()
    durations = asyncio.run(drive(url, n, concurrency))
    wall = time.perf_counter() - wall0
    client_cpu = cpu_seconds() - cpu0
    parent.send("done")
    server = parent.recv()
    proc.join()
    return {"wall": wall, "client_cpu": client_cpu, "durations": durations, **server}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--median", type=float, default=0.2)
    args = parser.parse_args()
    n, c = args.requests, args.concurrency

    fast = measure(n, c, 0.0)
    print(f"zero latency, {n} requests at concurrency {c}:")
    print(f"  {n / fast['wall']:.0f} requests/s, wall {fast['wall']:.2f} s")
    print(
        f"  server CPU {fast['cpu'] / n * 1000:.2f} ms/call, client (SDK) CPU "
        f"{fast['client_cpu'] / n * 1000:.2f} ms/call"
    )
    print(f"  refused {fast['rejections']}, cache-read tokens {fast['cache_read']}")

    slow = measure(n, c, args.median)
    ideal = max(slow["served_sum"] / c, slow["served_max"])
    print(f"lognormal latency median {args.median} s sigma 1, {n} requests at concurrency {c}:")
    print(
        f"  wall {slow['wall']:.2f} s vs ideal {ideal:.2f} s "
        f"(max of longest call, served seconds / {c}): ratio {slow['wall'] / ideal:.3f}"
    )
    print(
        f"  client-side median {statistics.median(slow['durations']):.3f} s "
        f"(configured {args.median}), peak in flight {slow['peak']}"
    )


if __name__ == "__main__":
    main()
