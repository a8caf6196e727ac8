"""Sandbox benchmark: what the process boundary of generated harnesses costs.

Prints, on this machine:

- start-up of a sandboxed harness that returns at once (process, limits, bubblewrap when
  it works here, RestrictedPython compile, the channel's first messages), median of N,
  against a bare ``python -I -c pass`` measured in the same run (goal: under 300 ms);
- CPU per agent call that the boundary adds (goal: under 2 ms): the same N agent calls
  fanned out with ``run.parallel`` by a trusted harness in this process and by the
  generated harness in the sandbox, against the loopback model server in a child
  process; this process's CPU plus the sandbox process's, per call, and their difference.

    python bench/sandbox.py [--calls 1000] [--starts 10]
"""

from __future__ import annotations

import argparse
import functools
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import anyio
from pydantic import BaseModel

sys.path.insert(0, str(Path(__file__).resolve().parent))

from runtime import API_KEY, SEED, Server  # noqa: E402  (the same loopback server process)

from reviewbot.config import Config  # noqa: E402
from reviewbot.harness.host import describe_isolation, host_harness  # noqa: E402
from reviewbot.models import ModelAccess, make_client  # noqa: E402
from reviewbot.runtime import Run  # noqa: E402

FANOUT = """\
from pydantic import BaseModel

class Out(BaseModel):
    answer: str
    item: int

async def main(run, n):
    async def one(i):
        return (await run.agent(f"stage 1 of item {i}", schema=Out, role="finder")).item
    done = await run.parallel([lambda i=i: one(i) for i in range(n)])
    return len([d for d in done if d is not None])
"""
TRIVIAL = "async def main(run):\n    return 1\n"


class Out(BaseModel):
    answer: str
    item: int


def config() -> Config:
    return Config.model_validate({
        "runtime": {"concurrency": 64, "max_agents": 100_000, "budget_usd": None,
                    "prime_caches": False},
        "models": {"max_tokens": 256},
    })


async def trusted(run: Run, n: int) -> int:
    async def one(i: int) -> int:
        return (await run.agent(f"stage 1 of item {i}", schema=Out, role="finder")).item

    done = await run.parallel([functools.partial(one, i) for i in range(n)])
    return len([d for d in done if d is not None])


def cpu_now() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def measure_calls(base_url: str, n: int, sandboxed: bool) -> float:
    cfg = config()

    async def go() -> Any:
        client = make_client(ModelAccess(api_key=API_KEY, base_url=base_url), cfg.models)
        run = Run(run_id="bench", config=cfg, client=client)
        try:
            if sandboxed:
                return await host_harness(run, source=FANOUT, filename="<bench>", name="bench",
                                          module="reviewbot_generated_bench", params={"n": n})
            return await trusted(run, n)
        finally:
            await client.close()

    before = cpu_now()
    done = anyio.run(go)
    assert done == n, done
    return (cpu_now() - before) / n


def measure_start(runs: int) -> tuple[float, float]:
    run = Run(run_id="bench", config=config())

    async def go() -> Any:
        return await host_harness(run, source=TRIVIAL, filename="<bench>", name="bench",
                                  module="reviewbot_generated_start", params={})

    anyio.run(go)  # warm the bubblewrap probe and the page cache
    sandboxed, bare = [], []
    for _ in range(runs):
        started = time.perf_counter()
        anyio.run(go)
        sandboxed.append(time.perf_counter() - started)
        started = time.perf_counter()
        subprocess.run([sys.executable, "-I", "-c", "pass"], check=True)
        bare.append(time.perf_counter() - started)
    return statistics.median(sandboxed), statistics.median(bare)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=1000)
    parser.add_argument("--starts", type=int, default=10)
    args = parser.parse_args()

    print(describe_isolation())
    start, bare = measure_start(args.starts)
    print(f"start-up of a sandboxed harness: {start * 1000:.0f} ms median of {args.starts} "
          f"(bare `python -I -c pass`: {bare * 1000:.0f} ms, {start / bare:.1f}x; goal < 300 ms)")

    srv = Server(0, 0, SEED)
    try:
        measure_calls(srv.base_url, 200, sandboxed=False)  # warm up both paths
        measure_calls(srv.base_url, 200, sandboxed=True)
        inproc = min(measure_calls(srv.base_url, args.calls, sandboxed=False) for _ in range(2))
        boxed = min(measure_calls(srv.base_url, args.calls, sandboxed=True) for _ in range(2))
    finally:
        srv.close()
    print(f"CPU per agent call, {args.calls} calls at concurrency 64: in process "
          f"{inproc * 1000:.2f} ms, sandboxed {boxed * 1000:.2f} ms "
          f"({boxed / inproc:.2f}x); the boundary adds {(boxed - inproc) * 1000:.2f} ms "
          "(goal < 2 ms)")


if __name__ == "__main__":
    main()
