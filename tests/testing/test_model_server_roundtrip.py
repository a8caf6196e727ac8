"""Round trips through the real AsyncAnthropic client over loopback HTTP."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, TypeVar

import pytest
from anthropic import AsyncAnthropic, InternalServerError
from pydantic import BaseModel

from reviewbot.testing import MessagesRequest, ModelServer, Reply, Router, Script, by_role

T = TypeVar("T")
MODEL = "claude-haiku-5-5"
READ_FILE = {
    "name": "read_file",
    "description": "Read a file of the repository.",
    "input_schema": {
        "type": "object",
        "properties": {"path": {"type": "string"}},
        "required": ["path"],
    },
}


def run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


def client(srv: ModelServer, **kw: Any) -> AsyncAnthropic:
    return AsyncAnthropic(base_url=srv.base_url, api_key="test-key", **kw)


class Verdict(BaseModel):
    verdict: str
    confidence: float


def test_structured_reply_round_trip(model_server: Any) -> None:
    seen: list[MessagesRequest] = []

    def handler(req: MessagesRequest) -> Verdict:
        seen.append(req)
        return Verdict(verdict="refuted", confidence=0.75)

    srv = model_server(handler, api_key="test-key")

    async def go() -> Any:
        return await client(srv).messages.parse(
            model=MODEL,
            max_tokens=512,
            system="Role: skeptic\nYou attack claims.",
            messages=[{"role": "user", "content": "Is x None at line 3?"}],
            output_format=Verdict,
        )

    msg = run(go())
    assert msg.parsed_output == Verdict(verdict="refuted", confidence=0.75)
    assert msg.stop_reason == "end_turn" and msg.role == "assistant" and msg.model == MODEL
    assert msg.id.startswith("msg_")
    assert msg.usage.input_tokens > 0 and msg.usage.output_tokens > 0
    req = seen[0]
    assert req.role == "skeptic"
    assert req.last_user_text == "Is x None at line 3?"
    assert req.output_schema is not None and req.output_schema["required"] == [
        "verdict",
        "confidence",
    ]
    assert req.headers["anthropic-version"] == "2026-10-21"
    assert req.headers["authorization"] == "Bearer test-key"
    assert srv.calls == 1 and srv.requests == seen and srv.rejections == []
    assert srv.schema_violations == []


def test_tool_use_then_tool_result_loop(model_server: Any) -> None:
    def handler(req: MessagesRequest) -> Any:
        if not req.tool_results:
            return Reply.tool_use("read_file", {"path": "app.py"})
        (result,) = req.tool_results
        assert result.name == "read_file" and result.text == "x = None"
        return {"verdict": "confirmed", "confidence": 0.9}

    srv = model_server(handler, api_key="test-key")

    async def go() -> tuple[Any, int]:
        c = client(srv)
        messages: list[dict[str, Any]] = [{"role": "user", "content": "Check app.py"}]
        turns = 0
        while True:
            turns += 1
            msg = await c.messages.parse(
                model=MODEL,
                max_tokens=512,
                messages=messages,
                tools=[READ_FILE],
                output_format=Verdict,
            )
            if msg.stop_reason != "tool_use":
                return msg.parsed_output, turns
            messages.append({"role": "assistant", "content": msg.content})
            messages.append(
                {
                    "role": "user",
                    "content": [
                        {"type": "tool_result", "tool_use_id": b.id, "content": "x = None"}
                        for b in msg.content
                        if b.type == "tool_use"
                    ],
                }
            )

    parsed, turns = run(go())
    assert parsed == Verdict(verdict="confirmed", confidence=0.9)
    assert turns == 2 and srv.calls == 2 and srv.rejections == []
    first, second = srv.requests
    assert first.turn == 0 and second.turn == 1
    assert first.tools == ["read_file"]


def test_parallel_tool_uses_need_every_result(model_server: Any) -> None:
    srv = model_server(
        Script(
            [Reply.tool_uses([("read_file", {"path": "a"}), ("read_file", {"path": "b"})]), "done"]
        ),
        api_key="test-key",
    )

    async def go() -> str:
        c = client(srv)
        msgs: list[dict[str, Any]] = [{"role": "user", "content": "read both"}]
        msg = await c.messages.create(model=MODEL, max_tokens=100, messages=msgs, tools=[READ_FILE])
        ids = [b.id for b in msg.content if b.type == "tool_use"]
        assert len(ids) == 2 and ids[0] != ids[1]
        msgs += [
            {"role": "assistant", "content": msg.content},
            {
                "role": "user",
                "content": [
                    {"type": "tool_result", "tool_use_id": i, "content": "ok"} for i in ids
                ],
            },
        ]
        final = await c.messages.create(
            model=MODEL, max_tokens=100, messages=msgs, tools=[READ_FILE]
        )
        return final.content[0].text  # type: ignore[union-attr]

    assert run(go()) == "done"


def test_router_by_role_and_content(model_server: Any) -> None:
    router = (
        Router()
        .role("finder", "found")
        .contains("SECRET-MARKER", ["first", "second"])
        .otherwise(lambda req: f"fallback:{req.model}")
    )
    srv = model_server(router)

    async def ask(system: str, prompt: str) -> str:
        msg = await client(srv).messages.create(
            model=MODEL,
            max_tokens=50,
            system=system,
            messages=[{"role": "user", "content": prompt}],
        )
        return msg.content[0].text  # type: ignore[union-attr]

    async def go() -> list[str]:
        return [
            await ask("Role: finder\nFind bugs.", "code"),
            await ask("Role: judge", "has SECRET-MARKER"),
            await ask("Role: judge", "SECRET-MARKER again"),
            await ask("Role: judge", "nothing"),
        ]

    assert run(go()) == ["found", "first", "second", f"fallback:{MODEL}"]
    routed = by_role({"finder": "a"}, default="b")
    assert routed(MessagesRequest(body={"system": "x\nRole: finder\n", "messages": []})) == "a"
    assert routed(MessagesRequest(body={"messages": []})) == "b"


def test_exhausted_script_fails_the_test_loudly() -> None:
    srv = ModelServer(Script(["only one"])).start()
    try:

        async def go() -> None:
            c = client(srv, max_retries=0)
            await c.messages.create(
                model=MODEL, max_tokens=5, messages=[{"role": "user", "content": "1"}]
            )
            with pytest.raises(InternalServerError):
                await c.messages.create(
                    model=MODEL, max_tokens=5, messages=[{"role": "user", "content": "2"}]
                )

        run(go())
    finally:
        srv.stop()
    with pytest.raises(AssertionError, match="script exhausted"):
        srv.raise_handler_errors()


def test_default_handler_answers_any_schema(model_server: Any) -> None:
    class Finding(BaseModel):
        path: str
        line: int
        severity: str

    class Findings(BaseModel):
        findings: list[Finding]
        summary: str | None

    srv = model_server()

    async def go() -> Any:
        c = client(srv)
        parsed = await c.messages.parse(
            model=MODEL,
            max_tokens=100,
            output_format=Findings,
            messages=[{"role": "user", "content": "review"}],
        )
        text = await c.messages.create(
            model=MODEL, max_tokens=100, messages=[{"role": "user", "content": "hi"}]
        )
        return parsed.parsed_output, text.content[0].text  # type: ignore[union-attr]

    parsed, text = run(go())
    assert parsed == Findings(findings=[], summary=None)
    assert text == "OK"


def test_count_tokens_and_models_list(model_server: Any) -> None:
    srv = model_server(api_key="test-key")
    body = {"messages": [{"role": "user", "content": "x" * 400}], "system": "s" * 400}

    async def go() -> tuple[int, int, list[str]]:
        c = client(srv)
        counted = await c.messages.count_tokens(model=MODEL, **body)  # type: ignore[arg-type]
        msg = await c.messages.create(model=MODEL, max_tokens=10, **body)  # type: ignore[arg-type]
        models = [m.id async for m in c.models.list()]
        return counted.input_tokens, msg.usage.input_tokens, models

    counted, billed, models = run(go())
    assert counted == billed
    assert 200 <= counted <= 240  # ~800 characters at four per token, plus framing
    assert MODEL in models and "claude-opus-5-5" in models


def test_long_text_is_cut_at_max_tokens(model_server: Any) -> None:
    srv = model_server(lambda req: "word " * 500)

    async def go() -> Any:
        return await client(srv).messages.create(
            model=MODEL, max_tokens=20, messages=[{"role": "user", "content": "talk"}]
        )

    msg = run(go())
    assert msg.stop_reason == "max_tokens"
    assert msg.usage.output_tokens == 20
    assert len(msg.content[0].text) == 80


def test_streaming_request_gets_server_sent_events(model_server: Any) -> None:
    long_input = {"path": "src/" + "deep/" * 20 + "app.py"}
    srv = model_server(
        Script(
            [
                Reply.tool_use("read_file", long_input, text="Reading it now, one moment."),
                {"verdict": "confirmed", "confidence": 0.5},
            ]
        ),
        api_key="test-key",
    )

    async def go() -> tuple[Any, Any, list[str]]:
        c = client(srv)
        async with c.messages.stream(
            model=MODEL,
            max_tokens=500,
            tools=[READ_FILE],
            messages=[{"role": "user", "content": "go"}],
        ) as stream:
            first = await stream.get_final_message()
        async with c.messages.stream(
            model=MODEL,
            max_tokens=500,
            output_format=Verdict,
            messages=[{"role": "user", "content": "go"}],
        ) as stream:
            kinds = [event.type async for event in stream]
            second = await stream.get_final_message()
        return first, second, kinds

    first, second, kinds = run(go())
    assert first.stop_reason == "tool_use"
    assert first.content[0].text == "Reading it now, one moment."
    assert first.content[1].input == long_input  # reassembled from partial JSON deltas
    assert first.usage.output_tokens > 1 and first.usage.input_tokens > 0
    assert second.parsed_output == Verdict(verdict="confirmed", confidence=0.5)
    assert kinds[0] == "message_start" and kinds[-1] == "message_stop"
    assert srv.calls == 2 and srv.rejections == []


def test_max_recorded_keeps_the_latest_requests(model_server: Any) -> None:
    srv = model_server(max_recorded=3)

    async def go() -> None:
        c = client(srv)
        for i in range(5):
            await c.messages.create(
                model=MODEL, max_tokens=5, messages=[{"role": "user", "content": f"n{i}"}]
            )

    run(go())
    assert [r.last_user_text for r in srv.requests] == ["n2", "n3", "n4"]
    assert srv.calls == 5 and len(srv.service_times) == 3


def test_model_env_points_a_default_client_at_the_server(model_env: Any) -> None:
    srv = model_env(lambda req: "from env")

    async def go() -> str:
        msg = await AsyncAnthropic().messages.create(  # reads ANTHROPIC_BASE_URL / _API_KEY
            model=MODEL, max_tokens=5, messages=[{"role": "user", "content": "hi"}]
        )
        return msg.content[0].text  # type: ignore[union-attr]

    assert run(go()) == "from env"
    assert srv.api_key == "test-key" and srv.calls == 1


def test_thinking_blocks_must_be_sent_back_in_the_tool_loop(model_server: Any) -> None:
    first = Reply.tool_use("read_file", {"path": "a.py"}).with_thinking("Need the file.")
    srv = model_server(Script([first, Reply.refusal()]))

    async def go() -> Any:
        c = client(srv)
        msgs: list[dict[str, Any]] = [{"role": "user", "content": "check"}]
        msg = await c.messages.create(model=MODEL, max_tokens=100, messages=msgs, tools=[READ_FILE])
        assert [b.type for b in msg.content] == ["thinking", "tool_use"]
        msgs += [
            {"role": "assistant", "content": msg.content},
            {
                "role": "user",
                "content": [
                    {"type": "tool_result", "tool_use_id": msg.content[1].id, "content": "x"}  # type: ignore[union-attr]
                ],
            },
        ]
        return await c.messages.create(
            model=MODEL, max_tokens=100, messages=msgs, tools=[READ_FILE]
        )

    final = run(go())
    assert final.stop_reason == "refusal"
    sent_back = srv.requests[1].messages[1]["content"][0]
    assert sent_back["type"] == "thinking" and sent_back["signature"].startswith("sig_")
