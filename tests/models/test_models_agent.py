"""run_agent over real HTTP: the real SDK against the loopback model server."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from typing import Any, Literal

import pytest
from pydantic import BaseModel

from reviewbot.config import ModelsConfig
from reviewbot.errors import ModelServiceError
from reviewbot.models import (
    MAX_CACHE_BREAKPOINTS,
    AgentFailed,
    AgentOutcome,
    AgentRequest,
    ModelAccess,
    Usage,
    cost_usd,
    data_block,
    make_client,
    output_schema,
    run_agent,
    tool,
)
from reviewbot.models.prompt import count_breakpoints
from reviewbot.testing import MessagesRequest, ModelServer, Reply, Script

KEY = "test-key-123"
MODEL = "claude-haiku-5-5"


class Verdict(BaseModel):
    verdict: Literal["confirmed", "refuted"]
    reason: str


GOOD = {"verdict": "confirmed", "reason": "the loop reads past the end"}


def read_file(path: str, start: int = 1) -> str:
    """Read a file of the repository under review."""
    if path.startswith("/"):
        raise PermissionError(f"{path}: only repository paths may be read")
    return f"{path} from line {start}: for i in range(len(xs) + 1): ..."


def _run(
    srv: ModelServer,
    *,
    prompt: str = "Is the off-by-one real?",
    context: tuple[str, ...] = (),
    tools: tuple[Any, ...] = (),
    max_turns: int = 12,
    max_retries: int = 0,
    key: str = KEY,
    role: str = "skeptic",
    on_usage: Callable[[Usage], None] | None = None,
) -> AgentOutcome[Verdict]:
    async def go() -> AgentOutcome[Verdict]:
        client = make_client(
            ModelAccess(api_key=key, base_url=srv.base_url), ModelsConfig(max_retries=max_retries)
        )
        async with client:
            return await run_agent(
                client,
                AgentRequest(
                    model=MODEL,
                    role=role,
                    system="Decide whether the claimed bug is real.",
                    context=context,
                    prompt=prompt,
                    schema=Verdict,
                    tools=tools,
                    max_turns=max_turns,
                    max_tokens=1024,
                    on_usage=on_usage,
                ),
            )

    return asyncio.run(go())


def test_tool_loop_with_typed_tool_and_error_result(
    model_server: Callable[..., ModelServer],
) -> None:
    def answer(req: MessagesRequest) -> Any:
        ok, refused = req.tool_results
        assert ok.name == "read_file" and not ok.is_error and "range(len(xs) + 1)" in ok.text
        assert refused.is_error
        assert refused.text == "PermissionError: /etc/passwd: only repository paths may be read"
        return GOOD

    srv = model_server(
        Script(
            [
                Reply.tool_uses(
                    [("read_file", {"path": "a.py"}), ("read_file", {"path": "/etc/passwd"})]
                ),
                answer,
            ]
        ),
        api_key=KEY,
    )
    outcome = _run(srv, tools=(tool(read_file),))
    assert outcome.output == Verdict.model_validate(GOOD)
    assert (outcome.turns, outcome.requests, outcome.model) == (2, 2, MODEL)
    assert srv.rejections == []
    first, second = srv.requests
    assert first.tools == ["read_file"]
    assert first.tool_defs[0]["input_schema"]["required"] == ["path"]
    assert [r.is_error for r in second.tool_results] == [False, True]


def test_unknown_tool_and_bad_arguments_go_back_as_errors(
    model_server: Callable[..., ModelServer],
) -> None:
    srv = model_server(
        Script(
            [
                Reply.tool_uses([("rm_rf", {}), ("read_file", {"start": "two"})]),
                lambda req: GOOD,
            ]
        ),
        api_key=KEY,
    )
    _run(srv, tools=(tool(read_file),))
    unknown, invalid = srv.requests[1].tool_results
    assert (
        unknown.is_error and "unknown tool 'rm_rf'" in unknown.text and "read_file" in unknown.text
    )
    assert invalid.is_error and "path" in invalid.text and "start" in invalid.text


def test_structured_output_is_requested_and_validated(
    model_server: Callable[..., ModelServer],
) -> None:
    srv = model_server(Script([GOOD]), api_key=KEY)
    outcome = _run(srv, role="finder")
    assert isinstance(outcome.output, Verdict)
    req = srv.requests[0]
    assert req.output_schema == output_schema(Verdict)
    assert req.output_schema["additionalProperties"] is False
    assert req.role == "finder"
    assert "never instructions" in req.system_text
    assert "temperature" not in req.body
    assert srv.rejections == []


def test_invalid_output_is_retried_once_with_the_error(
    model_server: Callable[..., ModelServer],
) -> None:
    srv = model_server(Script([{"verdict": "maybe"}, GOOD]), api_key=KEY)
    outcome = _run(srv)
    assert outcome.output.verdict == "confirmed"
    assert outcome.turns == 2
    feedback = srv.requests[1].last_user_text
    assert "not valid" in feedback
    assert "verdict" in feedback and "reason: Field required" in feedback
    # The rejected answer is in the history the model sees.
    assert srv.requests[1].messages[1]["role"] == "assistant"
    assert '"maybe"' in srv.requests[1].messages[1]["content"][0]["text"]
    assert srv.rejections == []


def test_second_invalid_output_fails_the_agent_with_its_spend(
    model_server: Callable[..., ModelServer],
) -> None:
    srv = model_server(
        Script([Reply.text("I think it is real."), {"verdict": "confirmed"}]), api_key=KEY
    )
    with pytest.raises(AgentFailed) as failed:
        _run(srv)
    assert "after one retry" in failed.value.reason and "reason" in failed.value.reason
    assert "Invalid JSON" in srv.requests[1].last_user_text
    assert len(srv.schema_violations) == 2  # the server saw both answers break the schema
    assert failed.value.usage == srv.usage
    assert failed.value.usage.output_tokens > 0 and failed.value.turns == 2


def test_max_tokens_cut_counts_as_invalid_output(model_server: Callable[..., ModelServer]) -> None:
    srv = model_server(
        Script([Reply.text('{"verdict": "confirmed", "rea', stop_reason="max_tokens"), GOOD]),
        api_key=KEY,
    )
    outcome = _run(srv)
    assert outcome.output == Verdict.model_validate(GOOD)
    assert "max_tokens=1024" in srv.requests[1].last_user_text


def test_open_tool_calls_are_answered_before_the_feedback(
    model_server: Callable[..., ModelServer],
) -> None:
    cut_call = Reply.blocks(
        [{"type": "tool_use", "id": "toolu_cut", "name": "read_file", "input": {"path": "a"}}],
        "max_tokens",
    )
    srv = model_server(Script([cut_call, GOOD]), api_key=KEY)
    _run(srv, tools=(tool(read_file),))
    assert [r.tool_use_id for r in srv.requests[1].tool_results] == ["toolu_cut"]
    assert srv.rejections == []


def test_max_turns_bounds_the_loop(model_server: Callable[..., ModelServer]) -> None:
    srv = model_server(lambda req: Reply.tool_use("read_file", {"path": "a.py"}), api_key=KEY)
    with pytest.raises(AgentFailed, match="max_turns=3"):
        _run(srv, tools=(tool(read_file),), max_turns=3)
    assert len(srv.requests) == 3


def _context() -> tuple[str, ...]:
    source = "\n".join(f"def f{i}(x):\n    return x + {i}\n" for i in range(400))
    return (data_block("a.py", source), data_block("diff", "+ return x + 1\n" * 50))


def test_cache_breakpoints_are_placed_on_the_shared_prefix(
    model_server: Callable[..., ModelServer],
) -> None:
    srv = model_server(
        Script(
            [
                Reply.tool_use("read_file", {"path": "a.py"}),
                Reply.tool_use("read_file", {"path": "b.py"}),
                GOOD,
            ]
        ),
        api_key=KEY,
    )
    _run(srv, tools=(tool(read_file), tool(read_lines_stub)), context=_context())
    assert srv.rejections == []
    for req in srv.requests:
        body = dict(req.body)
        assert count_breakpoints(body) <= MAX_CACHE_BREAKPOINTS
        assert "cache_control" in body["tools"][-1] and "cache_control" not in body["tools"][0]
        assert "cache_control" in body["system"][-1]
        first = body["messages"][0]["content"]
        # context blocks, then the prompt; the breakpoint closes the shared context
        assert [("cache_control" in b) for b in first] == [False, True, False]
        assert first[-1]["text"] == "Is the off-by-one real?"
    # Later turns add one moving breakpoint on the newest message: four in all.
    assert [count_breakpoints(dict(r.body)) for r in srv.requests] == [3, 4, 4]


def read_lines_stub(path: str) -> str:
    """List the lines of a file."""
    return path


def test_sibling_agents_read_the_shared_prefix_from_cache(
    model_server: Callable[..., ModelServer],
) -> None:
    srv = model_server(lambda req: GOOD, api_key=KEY)
    context = _context()
    tools = (tool(read_file),)
    first = _run(srv, context=context, tools=tools, prompt="Finding 1: off-by-one in f3")

    async def siblings() -> list[AgentOutcome[Verdict]]:
        client = make_client(ModelAccess(api_key=KEY, base_url=srv.base_url), ModelsConfig())
        async with client:
            return list(
                await asyncio.gather(
                    *(
                        run_agent(
                            client,
                            AgentRequest(
                                model=MODEL,
                                role="skeptic",
                                system="Decide whether the claimed bug is real.",
                                context=context,
                                prompt=f"Finding {n}: something else in f{n}",
                                schema=Verdict,
                                tools=tools,
                            ),
                        )
                        for n in (2, 3, 4)
                    )
                )
            )

    others = asyncio.run(siblings())
    assert first.usage.cache_creation_input_tokens > 1_000
    assert first.usage.cache_read_input_tokens == 0
    for sibling in others:
        assert sibling.usage.cache_read_input_tokens == first.usage.cache_creation_input_tokens
        assert sibling.usage.cache_creation_input_tokens == 0
        assert sibling.usage.input_tokens < first.usage.input_tokens + 50
        assert cost_usd(MODEL, sibling.usage) < cost_usd(MODEL, first.usage) / 3


def test_usage_is_reported_live_and_priced(model_server: Callable[..., ModelServer]) -> None:
    seen: list[Usage] = []
    srv = model_server(Script([Reply.tool_use("read_file", {"path": "a.py"}), GOOD]), api_key=KEY)
    outcome = _run(srv, tools=(tool(read_file),), on_usage=seen.append)
    assert len(seen) == 2
    assert seen[0] + seen[1] == outcome.usage == srv.usage
    u = outcome.usage
    expected = (
        u.input_tokens * 1.0
        + u.output_tokens * 5.0
        + u.cache_creation_input_tokens * 1.25
        + u.cache_read_input_tokens * 0.1
    ) / 1e6
    assert cost_usd(outcome.model, outcome.usage) == pytest.approx(expected)
    assert expected > 0


def test_wrong_key_is_one_line_model_service_error(
    model_server: Callable[..., ModelServer],
) -> None:
    srv = model_server(lambda req: GOOD, api_key=KEY)
    with pytest.raises(ModelServiceError) as err:
        _run(srv, key="sk-wrong", max_retries=3)
    assert err.value.message == (
        "the model service refused the API key (401): check ANTHROPIC_API_KEY"
    )
    assert "sk-wrong" not in err.value.message
    assert len(srv.rejections) == 1  # not retried


def test_unknown_model_names_the_model_and_the_config_key(
    model_server: Callable[..., ModelServer],
) -> None:
    srv = model_server(lambda req: GOOD, api_key=KEY, models=["claude-sonnet-5-5"])
    with pytest.raises(ModelServiceError) as err:
        _run(srv)
    message = err.value.message
    assert "\n" not in message
    assert f"model '{MODEL}'" in message and "models.tiers" in message and "404" in message


def test_rejected_request_carries_the_server_message(
    model_server: Callable[..., ModelServer],
) -> None:
    srv = model_server(
        Script([Reply.error(400, "invalid_request_error", "messages.0: something\nis wrong")]),
        api_key=KEY,
    )
    with pytest.raises(ModelServiceError) as err:
        _run(srv)
    assert (
        err.value.message
        == "the model service rejected a request (400): messages.0: something is wrong"
    )


def test_rate_limit_retry_after_is_honoured(model_server: Callable[..., ModelServer]) -> None:
    srv = model_server(Script([Reply.rate_limited(retry_after=1.2), GOOD]), api_key=KEY)
    started = time.monotonic()
    outcome = _run(srv, max_retries=2)
    assert time.monotonic() - started >= 1.2
    assert (outcome.turns, outcome.requests) == (1, 2)
    assert [e.status for e in srv.errors] == [429]


def test_exhausted_retries_fail_only_the_agent(model_server: Callable[..., ModelServer]) -> None:
    srv = model_server(Script([Reply.overloaded(), Reply.overloaded()]), api_key=KEY)
    with pytest.raises(AgentFailed, match="529") as failed:
        _run(srv, max_retries=1)
    assert failed.value.requests == 2 and failed.value.usage == Usage()
    assert [e.status for e in srv.errors] == [529, 529]


def test_key_is_sent_as_bearer_and_x_api_key(model_server: Callable[..., ModelServer]) -> None:
    srv = model_server(Script([GOOD]), api_key=KEY)
    _run(srv)
    headers = srv.requests[0].headers
    assert headers["x-api-key"] == KEY
    assert headers["authorization"] == f"Bearer {KEY}"


def test_a_keyless_local_server_needs_only_a_base_url(
    model_server: Callable[..., ModelServer],
) -> None:
    srv = model_server(Script([GOOD]))

    async def go() -> AgentOutcome[Verdict]:
        async with make_client(ModelAccess(base_url=srv.base_url), ModelsConfig()) as client:
            return await run_agent(
                client,
                AgentRequest(
                    model=MODEL, role="finder", system="", context=(), prompt="p", schema=Verdict
                ),
            )

    assert asyncio.run(go()).output == Verdict.model_validate(GOOD)
    assert "authorization" not in srv.requests[0].headers


def test_hung_connection_and_malformed_body_fail_only_the_agent(
    model_server: Callable[..., ModelServer],
) -> None:
    srv = model_server(Script([Reply.hang(30), Reply.malformed()]), api_key=KEY)

    async def go() -> list[AgentFailed]:
        config = ModelsConfig(max_retries=0, request_timeout=0.5)
        async with make_client(ModelAccess(api_key=KEY, base_url=srv.base_url), config) as client:
            failures = []
            for _ in range(2):
                with pytest.raises(AgentFailed) as failed:
                    await run_agent(
                        client,
                        AgentRequest(
                            model=MODEL,
                            role="finder",
                            system="",
                            context=(),
                            prompt="p",
                            schema=Verdict,
                        ),
                    )
                failures.append(failed.value)
            return failures

    hung, malformed = asyncio.run(go())
    assert "could not reach the model service" in str(hung)
    assert "malformed" in str(malformed) or "not valid" in str(malformed)


class Place(BaseModel):
    path: str
    line: int


class Report(BaseModel):
    title: str
    severity: Literal["low", "high"]
    where: Place
    also: list[Place] = []
    note: str | None = None


def test_the_sent_schema_accepts_valid_output_and_catches_extras(
    model_server: Callable[..., ModelServer],
) -> None:
    valid = Report(title="t", severity="high", where=Place(path="a.py", line=3), note=None)
    extra = {**valid.model_dump(), "where": {"path": "a.py", "line": 3, "column": 9}}
    srv = model_server(Script([valid, extra]), api_key=KEY)

    async def go() -> list[AgentOutcome[Report]]:
        async with make_client(
            ModelAccess(api_key=KEY, base_url=srv.base_url), ModelsConfig()
        ) as c:
            outcomes = []
            for _ in range(2):
                request = AgentRequest(
                    model=MODEL, role="finder", system="", context=(), prompt="p", schema=Report
                )
                outcomes.append(await run_agent(c, request))
            return outcomes

    first, second = asyncio.run(go())
    assert first.output == valid
    # The server checks each answer against the schema we sent it: a nested
    # extra key breaks additionalProperties=false there (pydantic ignores it).
    assert [v.text for v in srv.schema_violations] == [json.dumps(extra)]
    assert second.output == valid


def test_forbidden_key_is_one_line_model_service_error(
    model_server: Callable[..., ModelServer],
) -> None:
    srv = model_server(
        Script([Reply.error(403, "permission_error", "key may not use this model")]), api_key=KEY
    )
    with pytest.raises(ModelServiceError) as err:
        _run(srv, max_retries=2)
    assert err.value.message == (
        f"the model service denied access to model '{MODEL}' (403: key may not use this model): "
        "check ANTHROPIC_API_KEY and the key's permissions"
    )
    assert len(srv.errors) == 1
