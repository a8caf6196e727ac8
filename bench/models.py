"""Client-side cost of the model layer: CPU milliseconds per agent and per model turn.

The loopback model server runs in a child process, so the CPU time measured here
is ours alone: the SDK, request building, tool dispatch and output validation.
Run: python bench/models.py
"""

from __future__ import annotations

import asyncio
import resource
import subprocess
import sys
import textwrap
import time
from typing import Literal

from pydantic import BaseModel

from reviewbot.config import ModelsConfig
from reviewbot.models import AgentRequest, ModelAccess, data_block, make_client, run_agent, tool

SERVER = textwrap.dedent(
    """
    import sys, threading
    from reviewbot.testing import ModelServer, Reply

    def handle(req):
        if req.tools and req.turn < 2:
            return Reply.tool_use("grep", {"pattern": f"p{req.turn}"})
        return {"verdict": "confirmed", "reason": "x" * 200}

    srv = ModelServer(handle, api_key="bench").start()
    print(srv.base_url, flush=True)
    sys.stdin.read()
    srv.stop()
    """
)


class Verdict(BaseModel):
    verdict: Literal["confirmed", "refuted"]
    reason: str


def grep(pattern: str, max_hits: int = 20) -> list[str]:
    """Search the repository for a pattern."""
    return [f"a.py:{i}: {pattern}" for i in range(min(max_hits, 5))]


async def fan_out(base_url: str, agents: int, with_tools: bool, concurrency: int) -> float:
    context = (data_block("a.py", "def f(x):\n    return x\n" * 300),)
    tools = (tool(grep),) if with_tools else ()
    gate = asyncio.Semaphore(concurrency)
    client = make_client(ModelAccess(api_key="bench", base_url=base_url), ModelsConfig())

    async def one(i: int) -> int:
        async with gate:
            outcome = await run_agent(
                client,
                AgentRequest(
                    model="claude-haiku-5-5",
                    role="skeptic",
                    system="Judge the finding.",
                    context=context,
                    prompt=f"Finding {i}",
                    schema=Verdict,
                    tools=tools,
                ),
            )
            return outcome.turns

    async with client:
        await one(-1)  # warm-up: connection pool, schema cache, prompt cache
        cpu = time.process_time()
        turns = sum(await asyncio.gather(*(one(i) for i in range(agents))))
        cpu = time.process_time() - cpu
    return cpu * 1000 / turns


def main() -> None:
    server = subprocess.Popen(
        [sys.executable, "-c", SERVER], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert server.stdout is not None
        base_url = server.stdout.readline().strip()
        for agents, with_tools in ((400, False), (150, True)):
            started = time.perf_counter()
            per_turn = asyncio.run(fan_out(base_url, agents, with_tools, concurrency=32))
            wall = time.perf_counter() - started
            kind = "3-turn tool loop" if with_tools else "single turn     "
            turns = 3 if with_tools else 1
            print(
                f"{kind}: {agents} agents in {wall:5.2f}s wall; client CPU "
                f"{per_turn:.2f} ms per model turn, {per_turn * turns:.2f} ms per agent"
            )
    finally:
        if server.stdin is not None:
            server.stdin.close()
        server.wait(timeout=10)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak RSS (client process): {peak:.0f} MB")


if __name__ == "__main__":
    main()
