"""Harness sources and helpers shared by the generated-harness tests."""

from __future__ import annotations

import pytest

from reviewbot.cli import main as cli_main


def cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """Run the ``reviewbot`` entry point: its exit code, stdout and stderr."""
    with pytest.raises(SystemExit) as done:
        cli_main(list(args))
    captured = capsys.readouterr()
    code = done.value.code
    return int(code) if code is not None else 0, captured.out, captured.err


# A small fan-out + vote harness in the style of the built-in ones: META, closures as
# thunks, phases, a pipeline into votes, a pydantic result, a `_bind` helper.
FANOUT_VOTE = '''\
# reviewbot: generated harness
from __future__ import annotations

from pydantic import BaseModel, Field

from reviewbot.runtime import AgentError

META = {
    "name": "claim_check",
    "description": "Extract claims from a text with several finders and verify each by vote.",
    "phases": ["find", "verify", "summarize"],
    "parameters": {
        "text": {"type": "str", "required": True},
        "finders": {"type": "int", "default": 3},
    },
    "max_agents": 60,
    "budget_usd": 0.5,
}

ANGLES = ["evidence", "logic", "scope"]


class Claims(BaseModel):
    claims: list[str] = Field(description="checkable claims")


class Summary(BaseModel):
    summary: str


class Result(BaseModel):
    confirmed: list[str] = []
    refuted: list[str] = []
    summary: str = ""


def _bind(fn, item):
    async def call():
        return await fn(item)

    return call


async def main(run, text: str, finders: int = 3) -> Result:
    result = Result()

    async def find(index: int) -> list[str]:
        found = await run.agent(f"List the claims (reader {index}).", schema=Claims,
                                role="finder", context=[text])
        return found.claims

    with run.phase("find"):
        lists = await run.parallel([_bind(find, i) for i in range(finders)])
    claims: list[str] = []
    for found in lists:
        for claim in found or []:
            if claim not in claims:
                claims.append(claim)

    async def verify(claim: str) -> None:
        try:
            vote = await run.vote(claim, angles=ANGLES, context=[text], phase="verify")
        except AgentError:
            return
        if vote.confirmed:
            result.confirmed.append(claim)
        else:
            result.refuted.append(claim)

    await run.pipeline(claims[:20], verify)
    with run.phase("summarize"):
        summary = await run.agent("Summarize the verified claims.", schema=Summary,
                                  role="writer", tier="deep", context=result.confirmed)
    result.summary = summary.summary
    run.note(f"{len(claims)} claims checked")
    return result
'''
