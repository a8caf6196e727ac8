"""One sub-agent: a bounded tool-use loop that ends in a validated structured result."""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import anthropic
from pydantic import BaseModel, ValidationError

from reviewbot.errors import ModelServiceError
from reviewbot.models.prompt import (
    first_user_message,
    system_blocks,
    tool_definitions,
    with_moving_breakpoint,
)
from reviewbot.models.schema import output_schema
from reviewbot.models.tools import Tool, ToolResult
from reviewbot.models.usage import Usage

M = TypeVar("M", bound=BaseModel)

_MAX_FEEDBACK_CHARS = 2_000
_FENCE = re.compile(r"^```[a-zA-Z]*\s*\n?(.*?)\n?```\s*$", re.DOTALL)


@dataclass
class AgentRequest(Generic[M]):
    model: str
    role: str
    system: str
    context: Sequence[str]
    prompt: str
    schema: type[M]
    tools: Sequence[Tool] = ()
    max_turns: int = 12
    max_tokens: int = 4096
    # Called with the usage of each model response as it arrives (live cost).
    on_usage: Callable[[Usage], None] | None = None


@dataclass
class AgentOutcome(Generic[M]):
    output: M
    usage: Usage
    turns: int  # model responses received
    requests: int  # HTTP requests sent, SDK retries included
    model: str


def cache_prefix_key(request: AgentRequest[Any]) -> str:
    """A key shared by agents whose cached prompt prefix is the same.

    Model, tools, system text (role included) and context decide the prefix. A
    cache entry becomes readable only once the request that wrote it has been
    answered, so siblings sent at the same moment all miss; a scheduler can let
    the first agent of a key go ahead and start its siblings after its first turn.
    """
    digest = hashlib.sha256()
    for part in (
        request.model,
        json.dumps([t.definition() for t in request.tools], sort_keys=True),
        request.role,
        request.system,
        *request.context,
    ):
        digest.update(part.encode("utf-8", "surrogatepass"))
        digest.update(b"\0")
    return digest.hexdigest()[:32]


# Below this many prompt tokens the service caches nothing (the floor is 1024 to 4096
# tokens depending on the model), so waiting for a sibling to write the cache only adds
# latency.
MIN_SHARED_PREFIX_TOKENS = 1024


def shared_prefix_tokens(request: AgentRequest[Any]) -> int:
    """A rough size of the cacheable prefix (tools, system, context): 4 characters a token."""
    chars = len(request.system) + sum(len(c) for c in request.context)
    chars += sum(len(json.dumps(t.definition())) for t in request.tools)
    return chars // 4


class AgentFailed(Exception):
    """This agent gave no valid result; the run goes on. ``usage`` was still spent."""

    def __init__(
        self, reason: str, usage: Usage, *, model: str = "", turns: int = 0, requests: int = 0
    ) -> None:
        super().__init__(reason)
        self.reason = reason
        self.usage = usage
        self.model = model
        self.turns = turns
        self.requests = requests


def _one_line(text: str | None, limit: int = 300) -> str:
    flat = " ".join((text or "").split())
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."


def _service_error(exc: anthropic.APIStatusError, model: str) -> Exception:
    """Map an API error after the SDK's own retries: run-fatal or agent-fatal."""
    detail = _one_line(exc.api_message or exc.message)
    if isinstance(exc, anthropic.AuthenticationError):
        return ModelServiceError(
            f"the model service refused the API key ({exc.status_code}): check ANTHROPIC_API_KEY"
        )
    if isinstance(exc, anthropic.PermissionDeniedError):
        return ModelServiceError(
            f"the model service denied access to model '{model}' ({exc.status_code}: {detail}): "
            "check ANTHROPIC_API_KEY and the key's permissions"
        )
    if isinstance(exc, anthropic.NotFoundError):
        return ModelServiceError(
            f"model '{model}' was not found by the model service (404: {detail}): "
            "set an available model id under models.tiers (and check ANTHROPIC_BASE_URL)"
        )
    if isinstance(exc, anthropic.BadRequestError):
        return ModelServiceError(f"the model service rejected a request (400): {detail}")
    if exc.status_code == 402:
        return ModelServiceError(f"the model service refused to bill the request (402: {detail})")
    return _AgentFatal(f"model service error {exc.status_code} after retries: {detail}")


class _AgentFatal(Exception):
    """Internal: a request failed for this agent only (retries exhausted, timeout)."""


def _assistant_content(message: anthropic.types.Message) -> list[dict[str, Any]]:
    content: list[dict[str, Any]] = []
    for block in message.content:
        if block.type == "text":
            if block.text:
                content.append({"type": "text", "text": block.text})
        elif block.type == "tool_use":
            content.append(
                {"type": "tool_use", "id": block.id, "name": block.name, "input": block.input}
            )
        else:
            content.append(block.model_dump(mode="json", exclude_none=True))
    if not content:
        # The API rejects an assistant turn without content, and an empty text block.
        content.append({"type": "text", "text": "(no answer)"})
    return content


def _tool_uses(message: anthropic.types.Message) -> list[Any]:
    return [block for block in message.content if block.type == "tool_use"]


def _tool_result_block(tool_use_id: str, result: ToolResult) -> dict[str, Any]:
    block: dict[str, Any] = {"type": "tool_result", "tool_use_id": tool_use_id}
    # An empty result still needs content the model can read.
    block["content"] = result.content or "(empty)"
    if result.is_error:
        block["is_error"] = True
    return block


async def _run_tools(tools: dict[str, Tool], uses: Sequence[Any]) -> list[dict[str, Any]]:
    async def one(use: Any) -> dict[str, Any]:
        found = tools.get(use.name)
        if found is None:
            names = ", ".join(sorted(tools)) or "none"
            result = ToolResult(f"unknown tool '{use.name}'; available tools: {names}", True)
        else:
            args = use.input if isinstance(use.input, dict) else {}
            result = await found.invoke(args)
        return _tool_result_block(use.id, result)

    return list(await asyncio.gather(*(one(use) for use in uses)))


def _final_text(message: anthropic.types.Message) -> str:
    text = "".join(block.text for block in message.content if block.type == "text").strip()
    fenced = _FENCE.match(text)
    return fenced.group(1).strip() if fenced else text


def _describe(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors(include_url=False):
        where = ".".join(str(p) for p in err["loc"]) or "(root)"
        parts.append(f"{where}: {err['msg']}")
    text = "; ".join(parts)
    return text if len(text) <= _MAX_FEEDBACK_CHARS else text[:_MAX_FEEDBACK_CHARS] + "..."


class _Conversation:
    """The state of one agent's exchange with the model."""

    def __init__(self, client: anthropic.AsyncAnthropic, request: AgentRequest[Any]) -> None:
        self.client = client
        self.request = request
        self.usage = Usage()
        self.turns = 0
        self.requests = 0
        self.messages: list[dict[str, Any]] = [first_user_message(request.context, request.prompt)]
        self.params: dict[str, Any] = {
            "model": request.model,
            "max_tokens": request.max_tokens,
            "system": system_blocks(request.role, request.system),
            "output_config": {
                "format": {"type": "json_schema", "schema": output_schema(request.schema)}
            },
        }
        if request.tools:
            self.params["tools"] = tool_definitions([t.definition() for t in request.tools])

    def failed(self, reason: str) -> AgentFailed:
        return AgentFailed(
            reason, self.usage, model=self.request.model, turns=self.turns, requests=self.requests
        )

    async def ask(self) -> anthropic.types.Message:
        params = {**self.params, "messages": with_moving_breakpoint(self.messages)}
        try:
            raw = await self.client.messages.with_raw_response.create(**params)
        except anthropic.APIStatusError as exc:
            # The SDK does not report retries on failure; count the attempts it was allowed.
            self.requests += 1 + (self.client.max_retries if _retryable(exc) else 0)
            mapped = _service_error(exc, self.request.model)
            if isinstance(mapped, _AgentFatal):
                raise self.failed(str(mapped)) from exc
            raise mapped from None
        except anthropic.APIConnectionError as exc:
            self.requests += 1 + self.client.max_retries
            raise self.failed(f"could not reach the model service: {_one_line(str(exc))}") from exc
        self.requests += 1 + raw.retries_taken
        try:
            message = await raw.parse()
        except (json.JSONDecodeError, anthropic.APIResponseValidationError) as exc:
            raise self.failed(
                f"the model service sent a malformed response: {_one_line(str(exc))}"
            ) from exc
        self.turns += 1
        used = Usage.from_api(message.usage)
        self.usage = self.usage + used
        if self.request.on_usage is not None:
            self.request.on_usage(used)
        return message


def _retryable(exc: anthropic.APIStatusError) -> bool:
    return exc.status_code in (408, 409, 429) or exc.status_code >= 500


async def run_agent(client: anthropic.AsyncAnthropic, request: AgentRequest[M]) -> AgentOutcome[M]:
    """Run one sub-agent to a validated ``request.schema`` instance.

    Raises :class:`AgentFailed` when this agent cannot produce a result (invalid
    output twice, ``max_turns`` exceeded, retries exhausted, refusal) and
    :class:`ModelServiceError` when no agent can (bad key, unknown model, a
    request the service rejects).
    """
    convo = _Conversation(client, request)
    tools = {t.name: t for t in request.tools}
    feedback_given = False
    while True:
        if convo.turns >= request.max_turns:
            raise convo.failed(f"no result within max_turns={request.max_turns} model turns")
        message = await convo.ask()
        convo.messages.append({"role": "assistant", "content": _assistant_content(message)})
        uses = _tool_uses(message)
        if message.stop_reason == "tool_use" and uses:
            convo.messages.append({"role": "user", "content": await _run_tools(tools, uses)})
            continue
        if message.stop_reason == "refusal":
            raise convo.failed("the model declined the task (stop_reason=refusal)")
        if message.stop_reason == "model_context_window_exceeded":
            raise convo.failed("the conversation exceeded the model's context window")
        if message.stop_reason == "max_tokens":
            problem = (
                f"the answer was cut off at max_tokens={request.max_tokens}; give a shorter answer"
            )
        else:
            try:
                output = request.schema.model_validate_json(_final_text(message))
            except ValidationError as exc:
                problem = _describe(exc)
            else:
                return AgentOutcome(
                    output=output,
                    usage=convo.usage,
                    turns=convo.turns,
                    requests=convo.requests,
                    model=request.model,
                )
        if feedback_given:
            raise convo.failed(f"invalid output after one retry: {_one_line(problem)}")
        feedback_given = True
        # Tool calls left open in that turn must be answered before anything else.
        blocks = [
            _tool_result_block(use.id, ToolResult("not run: the answer is needed now", True))
            for use in uses
        ]
        blocks.append(
            {
                "type": "text",
                "text": (
                    f"Your previous answer was not valid: {problem}\n"
                    "Reply with only one JSON object that matches the required output schema."
                ),
            }
        )
        convo.messages.append({"role": "user", "content": blocks})
