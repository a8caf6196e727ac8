"""One sub-agent: a bounded tool-use loop that ends in a validated structured result."""

from __future__ import annotations

import asyncio
import json
import math
import random
import re
import time
from collections.abc import Sequence
from typing import Any, TypeVar

import anthropic
import anyio
from pydantic import BaseModel, ValidationError

from reviewbot.errors import ModelServiceError
from reviewbot.models.prompt import (
    first_user_message,
    system_blocks,
    tool_definitions,
    with_moving_breakpoint,
)
from reviewbot.models.request import (
    AgentFailed,
    AgentOutcome,
    AgentRequest,
    TurnDenied,
    TurnPlan,
)
from reviewbot.models.schema import output_schema
from reviewbot.models.tools import Tool, ToolResult
from reviewbot.models.usage import Usage

M = TypeVar("M", bound=BaseModel)

_MAX_FEEDBACK_CHARS = 2_000
_SURROGATE = re.compile("[\ud800-\udfff]")
_FENCE = re.compile(r"^```[a-zA-Z]*\s*\n?(.*?)\n?```\s*$", re.DOTALL)

# An upper bound of input tokens per character of the request's JSON. Tokenizers give
# English and code about 3.5-4 characters a token; counting the JSON text (keys, quotes
# and escapes included, other scripts escaped to six characters each) at 3 characters a
# token stays above what the service bills for such text. A runtime that sees a model
# bill more than this bound scales its later estimates up.
CHARS_PER_TOKEN_BOUND = 3
# Framing the service adds around the request and each message.
_REQUEST_OVERHEAD_TOKENS = 16
_MESSAGE_OVERHEAD_TOKENS = 4
# A turn granted fewer output tokens than this is not worth sending.
MIN_TURN_TOKENS = 1024


def _one_line(text: str | None, limit: int = 300) -> str:
    flat = " ".join((text or "").split())
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."


def text_problem(label: str, text: str, *, required: bool) -> str | None:
    """Why ``text`` cannot be sent to the Messages API, or None.

    The API refuses empty and whitespace-only text blocks, and text that is not
    valid Unicode (a lone surrogate cannot be encoded as UTF-8); a NUL byte is
    refused here too, since no prompt needs one and some services reject it.
    """
    if "\x00" in text:
        return f"{label} contains a NUL byte (at offset {text.index(chr(0))})"
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        code = ord(text[exc.start])
        return f"{label} contains a lone surrogate (U+{code:04X} at offset {exc.start})"
    if required and not text.strip():
        return f"{label} is {'empty' if not text else 'blank (whitespace only)'}"
    return None


def request_problem(request: AgentRequest[Any]) -> str | None:
    """Why an agent's own inputs cannot be sent (blank prompt, NUL bytes, ...), or None.

    Blank context entries are not a problem: they carry nothing and are left out.
    """
    checks = [("the prompt", request.prompt, True), ("the system text", request.system, False)]
    checks += [(f"context block {i + 1}", c, False) for i, c in enumerate(request.context)]
    checks.append(("the role", request.role, False))
    for label, text, required in checks:
        problem = text_problem(label, text, required=required)
        if problem is not None:
            return problem
    return None


def sendable(text: str) -> str:
    """Text the model or a tool produced, made safe to send back.

    A NUL byte or a lone surrogate becomes U+FFFD instead of making the request
    invalid.
    """
    if "\x00" in text:
        text = text.replace("\x00", "\ufffd")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        text = _SURROGATE.sub("\ufffd", text)
    return text


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
            # The API refuses empty and whitespace-only text blocks: a blank answer is
            # left out rather than sent back.
            if block.text and block.text.strip():
                content.append({"type": "text", "text": sendable(block.text)})
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
    # An empty (or blank) result still needs content the model can read.
    text = sendable(result.content)
    block["content"] = text if text.strip() else "(empty)"
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
        self.hedges = 0  # duplicate requests sent for the tail
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

    def input_bound(self) -> int:
        """An upper bound of the next request's input tokens (see CHARS_PER_TOKEN_BOUND)."""
        sent = {
            key: value for key, value in self.params.items() if key != "max_tokens"
        }
        sent["messages"] = with_moving_breakpoint(self.messages)
        # ASCII-escaped, so a character outside ASCII counts as two tokens or more
        chars = len(json.dumps(sent, separators=(",", ":")))
        return (
            math.ceil(chars / CHARS_PER_TOKEN_BOUND)
            + _REQUEST_OVERHEAD_TOKENS
            + _MESSAGE_OVERHEAD_TOKENS * len(self.messages)
        )

    async def ask(self, max_tokens: int | None = None) -> anthropic.types.Message:
        params = {**self.params, "messages": with_moving_breakpoint(self.messages)}
        if max_tokens is not None:
            params["max_tokens"] = max_tokens
        attempt = 0
        while True:
            message, problem = await self._send_hedged(params)
            if message is not None:
                break
            # A 200 whose body is not a Message (an HTML error page from a proxy, some
            # other JSON) is retried like a 5xx, then fails this agent only.
            if attempt >= self.client.max_retries:
                tries = f" ({attempt + 1} attempts)" if attempt else ""
                raise self.failed(f"the model service sent a malformed response{tries}: {problem}")
            await asyncio.sleep(_backoff(attempt))
            attempt += 1
        self.turns += 1
        used = Usage.from_api(message.usage)
        self.usage = self.usage + used
        if self.request.on_usage is not None:
            self.request.on_usage(used)
        return message

    async def _send_hedged(
        self, params: dict[str, Any]
    ) -> tuple[anthropic.types.Message | None, str]:
        """``_send``, or, past the hedge's delay, ``_send`` twice: the first to finish wins
        (answer or error) and the other is cancelled and booked at its input's worst case."""
        hedge = self.request.hedge
        delay = hedge.delay() if hedge is not None else None
        started = time.monotonic()
        if hedge is None or delay is None:
            result = await self._send(params)
            if hedge is not None:
                hedge.record(time.monotonic() - started)
            return result
        done: list[Any] = []  # results and exceptions, in the order they finished
        settled = anyio.Event()
        reservation: int | None = None
        input_tokens = self.input_bound()

        async def attempt(scope: anyio.CancelScope) -> None:
            try:
                outcome: Any = await self._send(params)
            except Exception as exc:  # an error wins only if the other attempt fails too
                outcome = exc
            done.append(outcome)
            racing = 2 if reservation is not None else 1
            if not isinstance(outcome, Exception) or len(done) >= racing:
                settled.set()
                scope.cancel()  # the other attempt, if any, is cancelled

        async with anyio.create_task_group() as tg:
            tg.start_soon(attempt, tg.cancel_scope)
            with anyio.move_on_after(delay):
                await settled.wait()
            if not settled.is_set() and not done:
                reservation = hedge.reserve(input_tokens, int(params["max_tokens"]))
                if reservation is not None:
                    tg.start_soon(attempt, tg.cancel_scope)
            await settled.wait()
        if reservation is not None:
            # the loser was cancelled mid-flight: the service may bill its input anyway
            hedge.settle(reservation, input_tokens)
            self.hedges += 1
        hedge.record(time.monotonic() - started)
        winner = next((o for o in done if not isinstance(o, Exception)), done[0])
        if isinstance(winner, Exception):
            raise winner
        answer: tuple[anthropic.types.Message | None, str] = winner
        return answer

    async def _send(
        self, params: dict[str, Any]
    ) -> tuple[anthropic.types.Message | None, str]:
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
            parsed: Any = await raw.parse()
        except (ValueError, anthropic.APIResponseValidationError) as exc:  # JSONDecodeError too
            return None, f"{_body_kind(raw)} ({_one_line(str(exc), 120)})"
        problem = _not_a_message(parsed)
        if problem is not None:
            return None, f"{problem}; {_body_kind(raw)}"
        return parsed, ""


def _body_kind(raw: Any) -> str:
    try:
        head = raw.http_response.text[:60]
    except Exception:  # noqa: BLE001 - only a description of a body already refused
        head = ""
    ctype = raw.headers.get("content-type", "no content-type")
    return f"{ctype} body starting {head!r}" if head else f"empty {ctype} body"


def _not_a_message(parsed: Any) -> str | None:
    """Why a parsed 200 body is not a usable Message (the SDK does not check), or None."""
    if not isinstance(parsed, anthropic.types.Message):
        return f"expected a Message, got {type(parsed).__name__}"
    if getattr(parsed, "type", None) != "message":
        return "the body is not a Message (type is not 'message')"
    content = getattr(parsed, "content", None)
    if not isinstance(content, list):
        return "the Message has no content list"
    for block in content:
        kind = getattr(block, "type", None)
        if not isinstance(kind, str):
            return "a content block has no type"
        if kind == "text" and not isinstance(getattr(block, "text", None), str):
            return "a text block has no text"
        if kind == "tool_use" and not (
            isinstance(getattr(block, "id", None), str)
            and isinstance(getattr(block, "name", None), str)
        ):
            return "a tool_use block has no id or name"
    usage = getattr(parsed, "usage", None)
    if usage is None or not all(
        isinstance(getattr(usage, name, None), int) for name in ("input_tokens", "output_tokens")
    ):
        return "the Message has no usage"
    return None


def _backoff(attempt: int) -> float:
    """Seconds before retrying a malformed answer: the SDK's schedule for a 5xx."""
    return min(0.5 * 2**attempt, 8.0) * (1 - 0.25 * random.random())


def _retryable(exc: anthropic.APIStatusError) -> bool:
    return exc.status_code in (408, 409, 429) or exc.status_code >= 500


async def run_agent(client: anthropic.AsyncAnthropic, request: AgentRequest[M]) -> AgentOutcome[M]:
    """Run one sub-agent to a validated ``request.schema`` instance.

    Raises :class:`AgentFailed` when this agent cannot produce a result (inputs
    that cannot be sent, invalid output twice, ``max_turns`` exceeded, retries
    exhausted, malformed answers, refusal, a turn ``before_turn`` denied) and
    :class:`ModelServiceError` when no agent can (bad key, unknown model, a
    request the service rejects). Anything else ``before_turn`` raises propagates.
    """
    convo = _Conversation(client, request)
    unsendable = request_problem(request)
    if unsendable is not None:
        raise convo.failed(f"cannot be sent: {unsendable}")
    tools = {t.name: t for t in request.tools}
    feedback_given = False
    while True:
        if convo.turns >= request.max_turns:
            raise convo.failed(f"no result within max_turns={request.max_turns} model turns")
        max_tokens = request.max_tokens
        if request.before_turn is not None:
            plan = TurnPlan(
                turn=convo.turns,
                input_tokens=convo.input_bound(),
                max_tokens=request.max_tokens,
                min_tokens=min(request.max_tokens, MIN_TURN_TOKENS),
            )
            try:
                max_tokens = min(await request.before_turn(plan), request.max_tokens)
            except TurnDenied as exc:
                raise convo.failed(str(exc)) from None
        message = await convo.ask(max_tokens)
        convo.messages.append({"role": "assistant", "content": _assistant_content(message)})
        uses = _tool_uses(message)
        if message.stop_reason == "tool_use" and uses:
            if request.on_tool is not None:
                for use in uses:
                    request.on_tool(str(use.name))
            convo.messages.append({"role": "user", "content": await _run_tools(tools, uses)})
            continue
        if message.stop_reason == "refusal":
            raise convo.failed("the model declined the task (stop_reason=refusal)")
        if message.stop_reason == "model_context_window_exceeded":
            raise convo.failed("the conversation exceeded the model's context window")
        if message.stop_reason == "max_tokens":
            problem = f"the answer was cut off at max_tokens={max_tokens}; give a shorter answer"
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
