"""The loopback server refuses what the real Messages API refuses, with a 400 the SDK raises."""

from __future__ import annotations

import asyncio
import copy
from typing import Any

import pytest
from anthropic import AsyncAnthropic, BadRequestError, omit
from anthropic.lib._parse._transform import transform_schema
from anthropic.types import Message
from pydantic import BaseModel, Field

from reviewbot.testing import ModelServer, Reply

MODEL = "claude-sonnet-5-5"
TOOL = {"name": "grep", "input_schema": {"type": "object", "properties": {}}}


def user(content: Any) -> dict[str, Any]:
    return {"role": "user", "content": content}


def assistant(content: Any) -> dict[str, Any]:
    return {"role": "assistant", "content": content}


def tool_use(id_: str) -> dict[str, Any]:
    return {"type": "tool_use", "id": id_, "name": "grep", "input": {}}


def tool_result(id_: str) -> dict[str, Any]:
    return {"type": "tool_result", "tool_use_id": id_, "content": "hits"}


def text(s: str, cached: bool = False) -> dict[str, Any]:
    block: dict[str, Any] = {"type": "text", "text": s}
    if cached:
        block["cache_control"] = {"type": "ephemeral"}
    return block


class Location(BaseModel):
    path: str
    line: int = Field(ge=1)


class Report(BaseModel):
    locations: list[Location] = Field(min_length=2)
    note: str | None = None


class Node(BaseModel):
    children: list[Node]


def structured(schema: dict[str, Any]) -> dict[str, Any]:
    return {"format": {"type": "json_schema", "schema": schema}}


BASE: dict[str, Any] = {"model": MODEL, "max_tokens": 100, "messages": [user("hello")]}


def body(**changes: Any) -> dict[str, Any]:
    result = copy.deepcopy(BASE)
    for key, value in changes.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = value
    return result


# (test id, request body, words the error message must contain)
INVALID: list[tuple[str, dict[str, Any], str]] = [
    ("missing model", body(model=None), "model: Field required"),
    ("missing max_tokens", body(max_tokens=None), "max_tokens: Field required"),
    ("missing messages", body(messages=None), "messages: Field required"),
    ("empty messages", body(messages=[]), "at least one message"),
    ("first message assistant", body(messages=[assistant("hi"), user("x")]), "first message"),
    ("two user turns", body(messages=[user("a"), user("b")]), "roles must alternate"),
    (
        "two assistant turns",
        body(messages=[user("a"), assistant("b"), assistant("c")]),
        "roles must alternate",
    ),
    (
        "tool_result without tool_use",
        body(messages=[user("a"), assistant("b"), user([tool_result("toolu_x")])]),
        "unexpected `tool_use_id`",
    ),
    (
        "tool_result answering another id",
        body(
            messages=[user("a"), assistant([tool_use("toolu_1")]), user([tool_result("toolu_2")])],
            tools=[TOOL],
        ),
        "unexpected `tool_use_id`",
    ),
    (
        "tool_use not answered",
        body(messages=[user("a"), assistant([tool_use("toolu_1")]), user("go on")], tools=[TOOL]),
        "without `tool_result`",
    ),
    (
        "conversation ends on an unanswered tool_use",
        body(messages=[user("a"), assistant([tool_use("toolu_1")])], tools=[TOOL]),
        "without `tool_result`",
    ),
    (
        "tool_result after text",
        body(
            messages=[
                user("a"),
                assistant([tool_use("toolu_1")]),
                user([text("first"), tool_result("toolu_1")]),
            ],
            tools=[TOOL],
        ),
        "must come first",
    ),
    (
        "five cache breakpoints",
        body(
            system=[text("s1", True), text("s2", True), text("s3", True)],
            messages=[user([text("u1", True), text("u2", True)])],
        ),
        "maximum of 4 blocks with cache_control",
    ),
    (
        "top-level cache_control is a fifth breakpoint",
        body(
            system=[text("s1", True), text("s2", True)],
            messages=[user([text("u1", True), text("u2", True)])],
            cache_control={"type": "ephemeral"},
        ),
        "maximum of 4 blocks with cache_control",
    ),
    ("temperature", body(temperature=0.0), "temperature"),
    ("top_p", body(top_p=0.9), "top_p"),
    ("top_k", body(top_k=5), "top_k"),
    (
        "document in assistant message",
        body(
            messages=[
                user("a"),
                assistant(
                    [
                        {
                            "type": "document",
                            "source": {"type": "text", "media_type": "text/plain", "data": "d"},
                        }
                    ]
                ),
                user("b"),
            ]
        ),
        "document blocks are not allowed in assistant",
    ),
    (
        "bad tool name",
        body(tools=[{"name": "read file!", "input_schema": {"type": "object"}}]),
        "String should match pattern",
    ),
    (
        "duplicate tool names",
        body(tools=[TOOL, TOOL]),
        "Tool names must be unique",
    ),
    (
        "tool schema not an object",
        body(tools=[{"name": "grep", "input_schema": {"type": "string"}}]),
        "input_schema.type",
    ),
    ("unknown top-level field", body(temprature=1), "temprature: Extra inputs"),
    ("empty text block", body(messages=[user([text("")])]), "must be non-empty"),
    (
        "trailing whitespace in final assistant turn",
        body(messages=[user("a"), assistant("prefix ")]),
        "trailing whitespace",
    ),
    (
        "citations on user text",
        body(messages=[user([{"type": "text", "text": "a", "citations": [{"x": 1}]}])]),
        "citations",
    ),
    (
        "structured output without schema",
        body(output_config={"format": {"type": "json_schema"}}),
        "schema: Field required",
    ),
    ("negative max_tokens", body(max_tokens=-1), "max_tokens"),
    (
        "schema object without additionalProperties false",
        body(output_config=structured({"type": "object", "properties": {}})),
        "'additionalProperties' must be explicitly set to false",
    ),
    (
        "raw pydantic schema",
        body(output_config=structured(Report.model_json_schema())),
        "'additionalProperties' must be explicitly set to false",
    ),
    (
        "numeric bound in schema",
        body(
            output_config=structured(
                {
                    "type": "object",
                    "additionalProperties": False,
                    "required": ["n"],
                    "properties": {"n": {"type": "integer", "minimum": 1}},
                }
            )
        ),
        "output_config.format.schema.properties.n: keyword 'minimum' is not supported",
    ),
    (
        "recursive schema",
        body(output_config=structured(transform_schema(Node))),
        "recursive schemas are not supported",
    ),
    (
        "oneOf in schema",
        body(output_config=structured({"oneOf": [{"type": "string"}, {"type": "integer"}]})),
        "'oneOf' is not supported",
    ),
    (
        "minItems above 1",
        body(
            output_config=structured({"type": "array", "items": {"type": "string"}, "minItems": 2})
        ),
        "minItems: only 0 or 1",
    ),
    (
        "tool_choice names an unknown tool",
        body(tools=[TOOL], tool_choice={"type": "tool", "name": "other"}),
        "tool_choice",
    ),
]

VALID: list[tuple[str, dict[str, Any]]] = [
    ("minimal", body()),
    (
        "tool loop with parallel calls",
        body(
            messages=[
                user("a"),
                assistant([text("looking"), tool_use("toolu_1"), tool_use("toolu_2")]),
                user([tool_result("toolu_2"), tool_result("toolu_1"), text("and?")]),
            ],
            tools=[TOOL],
        ),
    ),
    (
        "four breakpoints",
        body(
            tools=[{**TOOL, "cache_control": {"type": "ephemeral", "ttl": "1h"}}],
            system=[text("s1", True), text("s2", True)],
            messages=[user([text("u1", True)])],
        ),
    ),
    ("prefill without trailing space", body(messages=[user("a"), assistant("The answer is")])),
    (
        "structured output",
        body(
            output_config={
                "format": {
                    "type": "json_schema",
                    "schema": {"type": "object", "properties": {}, "additionalProperties": False},
                }
            }
        ),
    ),
    ("schema the SDK prepares", body(output_config=structured(transform_schema(Report)))),
    ("metadata and stop sequences", body(metadata={"user_id": "u"}, stop_sequences=["END"])),
]


def _post(srv: ModelServer, payload: dict[str, Any], **client_kw: Any) -> Message:
    async def go() -> Message:
        c = AsyncAnthropic(base_url=srv.base_url, api_key="k", max_retries=0, **client_kw)
        return await c.post("/v1/messages", body=payload, cast_to=Message)

    return asyncio.run(go())


@pytest.fixture(scope="module")
def server() -> Any:
    with ModelServer(lambda req: Reply.text("fine")) as srv:
        yield srv


@pytest.mark.parametrize(
    ("payload", "expected"), [(b, e) for _, b, e in INVALID], ids=[i for i, _, _ in INVALID]
)
def test_invalid_request_is_refused_with_400(
    server: ModelServer, payload: dict[str, Any], expected: str
) -> None:
    before = server.calls
    with pytest.raises(BadRequestError) as info:
        _post(server, payload)
    assert info.value.status_code == 400
    assert info.value.body["error"]["type"] == "invalid_request_error"  # type: ignore[index]
    assert expected in info.value.message
    assert server.calls == before  # the handler never saw it


@pytest.mark.parametrize("payload", [b for _, b in VALID], ids=[i for i, _ in VALID])
def test_legitimate_request_passes(server: ModelServer, payload: dict[str, Any]) -> None:
    msg = _post(server, payload)
    assert msg.content[0].text == "fine"  # type: ignore[union-attr]


def test_missing_anthropic_version_header_is_refused(server: ModelServer) -> None:
    with pytest.raises(BadRequestError, match="anthropic-version"):
        _post(server, body(), default_headers={"anthropic-version": omit})


def test_sampling_parameters_pass_under_an_older_api_version(server: ModelServer) -> None:
    msg = _post(server, body(temperature=0.2), default_headers={"anthropic-version": "2023-06-01"})
    assert msg.stop_reason == "end_turn"


def test_body_that_is_not_json_is_refused(server: ModelServer) -> None:
    async def go() -> None:
        c = AsyncAnthropic(base_url=server.base_url, api_key="k", max_retries=0)
        await c.post(
            "/v1/messages",
            content=b"{not json",
            cast_to=Message,
            options={"headers": {"content-type": "application/json"}},
        )

    with pytest.raises(BadRequestError, match="error parsing the body"):
        asyncio.run(go())
