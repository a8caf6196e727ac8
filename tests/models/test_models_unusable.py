"""Answers and inputs an agent cannot use fail that agent, never the request or the run.

All over real HTTP: the real SDK against the loopback server, which refuses what the
API refuses (empty or whitespace-only text blocks among it), so a request we should
never send fails the test through the ``model_server`` fixture.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from typing import Any, Literal

import pytest
from pydantic import BaseModel

from reviewbot.config import ModelsConfig
from reviewbot.models import (
    AgentFailed,
    AgentOutcome,
    AgentRequest,
    ModelAccess,
    make_client,
    run_agent,
    tool,
)
from reviewbot.models.request import TurnDenied, TurnPlan
from reviewbot.testing import ModelServer, Reply, Script

KEY = "test-key"
MODEL = "claude-haiku-5-5"
GOOD = {"verdict": "confirmed", "reason": "off by one"}


class Verdict(BaseModel):
    verdict: Literal["confirmed", "refuted"]
    reason: str


def lookup(name: str) -> str:
    """Look a name up."""
    return {"nul": "a\x00b", "blank": "  \n\t", "surrogate": "x\ud800y"}[name]


def _run(
    srv: ModelServer,
    *,
    prompt: str = "Is it real?",
    system: str = "Decide.",
    context: tuple[str, ...] = (),
    tools: tuple[Any, ...] = (),
    max_retries: int = 0,
    before_turn: Callable[[TurnPlan], Any] | None = None,
    max_tokens: int = 1024,
) -> AgentOutcome[Verdict]:
    async def go() -> AgentOutcome[Verdict]:
        client = make_client(
            ModelAccess(api_key=KEY, base_url=srv.base_url), ModelsConfig(max_retries=max_retries)
        )
        async with client:
            return await run_agent(
                client,
                AgentRequest(
                    model=MODEL, role="skeptic", system=system, context=context, prompt=prompt,
                    schema=Verdict, tools=tools, max_tokens=max_tokens, before_turn=before_turn,
                ),
            )

    return asyncio.run(go())


@pytest.mark.parametrize("blank", ["", "   \n", "\n\t "])
def test_a_blank_answer_is_never_sent_back_as_a_text_block(
    model_server: Callable[..., ModelServer], blank: str
) -> None:
    srv = model_server(Script([Reply.text(blank), GOOD]), api_key=KEY)
    assert _run(srv).output.verdict == "confirmed"
    retry = srv.requests[1]
    sent = [b for m in retry.messages for b in m["content"] if b.get("type") == "text"]
    assert all(b["text"].strip() for b in sent)
    assert "not valid" in retry.last_user_text


def test_blank_answers_twice_fail_only_the_agent(model_server: Callable[..., ModelServer]) -> None:
    srv = model_server(Script([Reply.text("  \n"), Reply.text("\n")]), api_key=KEY)
    with pytest.raises(AgentFailed, match="invalid output after one retry") as failed:
        _run(srv)
    assert failed.value.turns == 2 and failed.value.usage.output_tokens > 0
    assert "\n" not in str(failed.value)


@pytest.mark.parametrize(
    "reply",
    [
        Reply.html(),
        Reply.malformed(b'{"foo": 1}'),
        Reply.malformed(b"[1, 2]"),
        Reply.malformed(b'"a string"'),
        Reply.malformed(b'{"type": "message", "content": "x", "usage": {}}'),
        Reply.malformed(b'{"type": "message", "content": [], "role": "assistant"}'),
        Reply.malformed(b""),
    ],
    ids=["html", "other-json", "list", "string", "content-not-list", "no-usage", "empty"],
)
def test_a_200_that_is_not_a_message_is_retried_then_fails_the_agent(
    model_server: Callable[..., ModelServer], reply: Reply
) -> None:
    srv = model_server(Script([reply, GOOD]), api_key=KEY)
    outcome = _run(srv, max_retries=1)  # retried like a 5xx
    assert outcome.output.verdict == "confirmed" and outcome.requests == 2

    srv = model_server(Script([reply] * 2), api_key=KEY)
    started = time.monotonic()
    with pytest.raises(AgentFailed, match="malformed response") as failed:
        _run(srv, max_retries=1)
    assert time.monotonic() - started > 0.3  # backed off between attempts
    message = str(failed.value)
    assert "(2 attempts)" in message and "\n" not in message and len(message) < 400
    assert failed.value.requests == 2 and failed.value.turns == 0


@pytest.mark.parametrize(
    ("inputs", "why"),
    [
        ({"prompt": ""}, "the prompt is empty"),
        ({"prompt": " \n\t"}, "the prompt is blank"),
        ({"prompt": "a\x00b"}, "the prompt contains a NUL byte"),
        ({"system": "ok\ud800"}, "the system text contains a lone surrogate"),
        ({"context": ("fine", "bin\x00ary")}, "context block 2 contains a NUL byte"),
        ({"context": ("\udfff",)}, "context block 1 contains a lone surrogate"),
    ],
)
def test_inputs_that_cannot_be_sent_fail_the_agent_without_a_request(
    model_server: Callable[..., ModelServer], inputs: dict[str, Any], why: str
) -> None:
    srv = model_server(Script([]), api_key=KEY)
    with pytest.raises(AgentFailed, match="cannot be sent: " + why) as failed:
        _run(srv, **inputs)
    assert srv.requests == [] and failed.value.requests == 0


def test_blank_context_and_system_are_left_out(model_server: Callable[..., ModelServer]) -> None:
    srv = model_server(Script([GOOD]), api_key=KEY)
    _run(srv, system="  \n", context=("", "  ", "real context", "\n"))
    (request,) = srv.requests
    texts = [b["text"] for b in request.messages[0]["content"]]
    assert texts == ["real context", "Is it real?"]


def test_tool_results_and_answers_are_made_sendable(
    model_server: Callable[..., ModelServer],
) -> None:
    srv = model_server(
        Script(
            [
                Reply.tool_uses(
                    [("lookup", {"name": "nul"}), ("lookup", {"name": "blank"}),
                     ("lookup", {"name": "surrogate"})],
                    text="checking \x00 now",
                ),
                GOOD,
            ]
        ),
        api_key=KEY,
    )
    assert _run(srv, tools=(tool(lookup),)).output.verdict == "confirmed"
    results = [r.text for r in srv.requests[1].tool_results]
    assert results == ["a\ufffdb", "(empty)", "x\ufffdy"]
    echoed = srv.requests[1].messages[1]["content"][0]
    assert echoed == {"type": "text", "text": "checking \ufffd now"}


def test_every_turn_asks_before_turn_with_its_worst_case(
    model_server: Callable[..., ModelServer],
) -> None:
    srv = model_server(Script([Reply.tool_use("lookup", {"name": "blank"}), GOOD]), api_key=KEY)
    plans: list[TurnPlan] = []

    async def grant(plan: TurnPlan) -> int:
        plans.append(plan)
        return 700 if plan.turn else 900

    _run(srv, tools=(tool(lookup),), before_turn=grant)
    assert [p.turn for p in plans] == [0, 1]
    assert [r.max_tokens for r in srv.requests] == [900, 700]
    assert plans[0].max_tokens == 1024
    for plan, request in zip(plans, srv.requests, strict=True):
        billed = len(json.dumps(request.body)) / 4  # the loopback server's own count
        assert plan.input_tokens >= billed
    assert plans[1].input_tokens > plans[0].input_tokens


def test_a_denied_turn_fails_the_agent_with_its_finished_turns(
    model_server: Callable[..., ModelServer],
) -> None:
    srv = model_server(Script([Reply.json({"verdict": "maybe"})]), api_key=KEY)

    async def grant(plan: TurnPlan) -> int:
        if plan.turn:
            raise TurnDenied("stopped by the budget before turn 2 (1 turn booked)")
        return plan.max_tokens

    with pytest.raises(AgentFailed, match="stopped by the budget") as failed:
        _run(srv, before_turn=grant)
    assert failed.value.turns == 1 and failed.value.usage.output_tokens > 0
    assert len(srv.requests) == 1
