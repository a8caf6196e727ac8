"""Request checks the real Messages API applies, with its status codes and wording.

Each rule raises :class:`ApiError`; the server turns it into the API's error body.
Our own client code is held to these rules by every test that goes through the
loopback server, so a request the real service would refuse fails here too.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

TOOL_NAME = re.compile(r"^[a-zA-Z0-9_-]{1,128}$")
MAX_CACHE_BREAKPOINTS = 4
# From this API version on, sampling parameters are refused.
NO_SAMPLING_SINCE = "2026-10-21"
SAMPLING_PARAMS = ("temperature", "top_p", "top_k")

MESSAGES_FIELDS = frozenset(
    {
        "model",
        "max_tokens",
        "messages",
        "system",
        "tools",
        "tool_choice",
        "metadata",
        "stop_sequences",
        "stream",
        "thinking",
        "output_config",
        "cache_control",
        "container",
        "diagnostics",
        "inference_geo",
        "service_tier",
        "speed",
        "user_profile_id",
        "workspace_id",
    }
)
COUNT_TOKENS_FIELDS = frozenset(
    {
        "model",
        "messages",
        "system",
        "tools",
        "tool_choice",
        "thinking",
        "output_config",
        "cache_control",
        "speed",
        "user_profile_id",
        "workspace_id",
    }
)
USER_BLOCKS = frozenset(
    {"text", "image", "document", "tool_result", "search_result", "container_upload"}
)
ASSISTANT_BLOCKS = frozenset(
    {
        "text",
        "tool_use",
        "thinking",
        "redacted_thinking",
        "server_tool_use",
        "web_search_tool_result",
    }
)


class ApiError(Exception):
    """An error response: HTTP status, API error type, message."""

    def __init__(self, status: int, error_type: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.error_type = error_type
        self.message = message


def invalid(message: str) -> ApiError:
    return ApiError(400, "invalid_request_error", message)


def check_headers(headers: Mapping[str, str], api_key: str | None) -> None:
    """Authentication (401) comes before anything about the request itself."""
    if api_key is not None:
        sent = headers.get("x-api-key")
        auth = headers.get("authorization", "")
        bearer = auth[7:].strip() if auth.lower().startswith("bearer ") else None
        if sent is None and bearer is None:
            raise ApiError(401, "authentication_error", "x-api-key header is required")
        if sent != api_key and bearer != api_key:
            raise ApiError(401, "authentication_error", "invalid x-api-key")
    if not headers.get("anthropic-version"):
        raise invalid("anthropic-version: header is required")


def _content_blocks(content: Any, where: str) -> list[Mapping[str, Any]]:
    if isinstance(content, str):
        if not content.strip():
            raise invalid(f"{where}: text content blocks must contain non-whitespace text")
        return [{"type": "text", "text": content}]
    if not isinstance(content, list):
        raise invalid(f"{where}.content: Input should be a valid list")
    blocks = []
    for j, block in enumerate(content):
        if not isinstance(block, Mapping) or "type" not in block:
            raise invalid(f"{where}.content.{j}: Input should be an object with a `type`")
        blocks.append(block)
    return blocks


def _check_cache_control(cc: Any, where: str) -> int:
    if cc is None:
        return 0
    if not isinstance(cc, Mapping) or cc.get("type") != "ephemeral":
        raise invalid(f"{where}.cache_control.type: Input should be 'ephemeral'")
    if cc.get("ttl", "5m") not in ("5m", "1h"):
        raise invalid(f"{where}.cache_control.ttl: Input should be '5m' or '1h'")
    return 1


def _check_tools(tools: Any) -> int:
    if not isinstance(tools, list):
        raise invalid("tools: Input should be a valid list")
    seen: set[str] = set()
    breakpoints = 0
    for i, tool in enumerate(tools):
        if not isinstance(tool, Mapping):
            raise invalid(f"tools.{i}: Input should be a valid dictionary")
        breakpoints += _check_cache_control(tool.get("cache_control"), f"tools.{i}")
        if tool.get("type") not in (None, "custom"):
            continue  # server tools (web search, ...) carry their own shapes
        name = tool.get("name")
        if not isinstance(name, str) or not TOOL_NAME.match(name):
            raise invalid(
                f"tools.{i}.custom.name: String should match pattern '{TOOL_NAME.pattern}'"
            )
        if name in seen:
            raise invalid("tools: Tool names must be unique.")
        seen.add(name)
        schema = tool.get("input_schema")
        if not isinstance(schema, Mapping):
            raise invalid(f"tools.{i}.custom.input_schema: Field required")
        if schema.get("type") != "object":
            raise invalid(f"tools.{i}.custom.input_schema.type: Input should be 'object'")
    return breakpoints


def _check_system(system: Any) -> int:
    if isinstance(system, str):
        return 0
    if not isinstance(system, list):
        raise invalid("system: Input should be a valid string or list of text blocks")
    breakpoints = 0
    for i, block in enumerate(system):
        if not isinstance(block, Mapping) or block.get("type") != "text":
            raise invalid(f"system.{i}.type: Input should be 'text'")
        if not block.get("text"):
            raise invalid(f"system.{i}.text: text content blocks must be non-empty")
        if not str(block["text"]).strip():
            raise invalid(f"system.{i}.text: text content blocks must contain non-whitespace text")
        breakpoints += _check_cache_control(block.get("cache_control"), f"system.{i}")
    return breakpoints


def _check_messages(messages: Any) -> int:
    if not isinstance(messages, list):
        raise invalid("messages: Input should be a valid list")
    if not messages:
        raise invalid("messages: at least one message is required")
    breakpoints = 0
    pending_tool_uses: list[str] = []  # ids the previous assistant turn called
    previous_role: str | None = None
    for i, message in enumerate(messages):
        where = f"messages.{i}"
        if not isinstance(message, Mapping):
            raise invalid(f"{where}: Input should be a valid dictionary")
        role = message.get("role")
        if role not in ("user", "assistant"):
            raise invalid(f"{where}.role: Input should be 'user' or 'assistant'")
        if i == 0 and role != "user":
            raise invalid('messages: first message must use the "user" role')
        if role == previous_role:
            raise invalid(
                f'messages: roles must alternate between "user" and "assistant", '
                f'but found multiple "{role}" roles in a row'
            )
        blocks = _content_blocks(message.get("content"), where)
        allowed = USER_BLOCKS if role == "user" else ASSISTANT_BLOCKS
        result_ids: list[str] = []
        seen_other = False
        uses: list[str] = []
        for j, block in enumerate(blocks):
            kind = block.get("type")
            bwhere = f"{where}.content.{j}"
            if kind == "document" and role == "assistant":
                raise invalid(f"{bwhere}: document blocks are not allowed in assistant messages")
            if kind not in allowed:
                raise invalid(f"{bwhere}.type: '{kind}' blocks are not allowed in {role} messages")
            breakpoints += _check_cache_control(block.get("cache_control"), bwhere)
            if kind == "text":
                text = block.get("text")
                if not isinstance(text, str) or not text:
                    raise invalid(f"{bwhere}.text: text content blocks must be non-empty")
                if not text.strip():
                    raise invalid(
                        f"{bwhere}.text: text content blocks must contain non-whitespace text"
                    )
                if block.get("citations") and role == "user":
                    raise invalid(f"{bwhere}.citations: citations are not allowed on user text")
                seen_other = True
            elif kind == "tool_result":
                if seen_other:
                    raise invalid(
                        f"{where}: tool_result blocks must come first in the content of a "
                        f"user message, before any other block"
                    )
                use_id = str(block.get("tool_use_id"))
                if use_id not in pending_tool_uses:
                    raise invalid(
                        f"{bwhere}: unexpected `tool_use_id` found in `tool_result` blocks: "
                        f"{use_id}. Each `tool_result` block must have a corresponding "
                        f"`tool_use` block in the previous message."
                    )
                result_ids.append(use_id)
            elif kind == "tool_use":
                if not isinstance(block.get("id"), str) or not isinstance(block.get("name"), str):
                    raise invalid(f"{bwhere}: tool_use blocks need an `id` and a `name`")
                if not isinstance(block.get("input"), Mapping):
                    raise invalid(f"{bwhere}.input: Input should be a valid dictionary")
                uses.append(str(block["id"]))
            else:
                seen_other = True
        if pending_tool_uses:
            missing = [u for u in pending_tool_uses if u not in result_ids]
            if missing:
                raise invalid(
                    f"messages.{i - 1}: `tool_use` ids were found without `tool_result` blocks "
                    f"immediately after: {', '.join(missing)}. Each `tool_use` block must have "
                    f"a corresponding `tool_result` block in the next message."
                )
        pending_tool_uses = uses
        previous_role = role
    if pending_tool_uses:
        raise invalid(
            f"messages.{len(messages) - 1}: `tool_use` ids were found without `tool_result` "
            f"blocks immediately after: {', '.join(pending_tool_uses)}. Each `tool_use` block "
            f"must have a corresponding `tool_result` block in the next message."
        )
    if previous_role == "assistant":
        last = messages[-1].get("content")
        text = last if isinstance(last, str) else None
        if text is None and isinstance(last, list) and last and last[-1].get("type") == "text":
            text = last[-1].get("text")
        if text is not None and text != text.rstrip():
            raise invalid("messages: final assistant content cannot end with trailing whitespace")
    return breakpoints


# The JSON Schema subset structured outputs accept (what the SDK's transform_schema
# keeps; everything else it moves into descriptions because the API refuses it).
_SCHEMA_COMMON = frozenset(
    {"$defs", "$ref", "type", "anyOf", "allOf", "enum", "const", "description", "title"}
)
_SCHEMA_BY_TYPE = {
    "object": frozenset({"properties", "additionalProperties", "required"}),
    "string": frozenset({"format"}),
    "array": frozenset({"items", "minItems"}),
}
_STRING_FORMATS = frozenset(
    {"date-time", "time", "date", "duration", "email", "hostname", "uri", "ipv4", "ipv6", "uuid"}
)


def _check_schema_node(node: Any, where: str, root: Mapping[str, Any]) -> None:
    if not isinstance(node, Mapping):
        raise invalid(f"{where}: a schema must be an object")
    kind = node.get("type")
    kinds = kind if isinstance(kind, list) else [kind]
    allowed = set(_SCHEMA_COMMON)
    for k in kinds:
        allowed |= _SCHEMA_BY_TYPE.get(k, frozenset()) if isinstance(k, str) else set()
    for key in node:
        if key not in allowed:
            raise invalid(f"{where}: keyword '{key}' is not supported in structured output schemas")
    if "object" in kinds and node.get("additionalProperties") is not False:
        raise invalid(
            f"{where}: for 'object' type, 'additionalProperties' must be explicitly set to false"
        )
    if "minItems" in node and node["minItems"] not in (0, 1):
        raise invalid(f"{where}.minItems: only 0 or 1 is supported")
    if "format" in node and node["format"] not in _STRING_FORMATS:
        raise invalid(f"{where}.format: string format '{node['format']}' is not supported")
    for name, child in (node.get("properties") or {}).items():
        _check_schema_node(child, f"{where}.properties.{name}", root)
    if "items" in node:
        _check_schema_node(node["items"], f"{where}.items", root)
    for key in ("anyOf", "allOf"):
        for i, child in enumerate(node.get(key) or ()):
            _check_schema_node(child, f"{where}.{key}.{i}", root)
    for name, child in (node.get("$defs") or {}).items():
        _check_schema_node(child, f"{where}.$defs.{name}", root)


def _defs_referenced(node: Any) -> set[str]:
    found: set[str] = set()
    if isinstance(node, Mapping):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/$defs/"):
            found.add(ref[len("#/$defs/") :])
        for key, value in node.items():
            if key != "$defs":
                found |= _defs_referenced(value)
    elif isinstance(node, list):
        for value in node:
            found |= _defs_referenced(value)
    return found


def _check_not_recursive(schema: Mapping[str, Any]) -> None:
    defs = schema.get("$defs") or {}
    graph = {name: _defs_referenced(body) for name, body in defs.items()}
    for start in graph:
        stack, seen = list(graph[start]), set()
        while stack:
            name = stack.pop()
            if name == start:
                raise invalid(
                    f"output_config.format.schema: recursive schemas are not supported "
                    f"($defs.{start} refers to itself)"
                )
            if name not in seen:
                seen.add(name)
                stack.extend(graph.get(name, ()))


def _check_output_config(config: Any) -> None:
    if not isinstance(config, Mapping):
        raise invalid("output_config: Input should be a valid dictionary")
    fmt = config.get("format")
    if fmt is None:
        return
    if not isinstance(fmt, Mapping) or fmt.get("type") != "json_schema":
        raise invalid("output_config.format.type: Input should be 'json_schema'")
    schema = fmt.get("schema")
    if not isinstance(schema, Mapping):
        raise invalid("output_config.format.schema: Field required")
    _check_schema_node(schema, "output_config.format.schema", schema)
    _check_not_recursive(schema)


def check_body(body: Any, headers: Mapping[str, str], *, count_tokens: bool = False) -> None:
    """Raise :class:`ApiError` (400) for anything the real API refuses in this body."""
    if not isinstance(body, Mapping):
        raise invalid("The request body is not valid JSON object")
    allowed = COUNT_TOKENS_FIELDS if count_tokens else MESSAGES_FIELDS
    version = headers.get("anthropic-version", "")
    for name in SAMPLING_PARAMS:
        if name in body and version >= NO_SAMPLING_SINCE:
            raise invalid(
                f"{name}: sampling parameters are not supported with anthropic-version {version}"
            )
    for name in body:
        if name not in allowed and name not in SAMPLING_PARAMS:
            raise invalid(f"{name}: Extra inputs are not permitted")
    required = ("model", "messages") if count_tokens else ("model", "max_tokens", "messages")
    for name in required:
        if name not in body:
            raise invalid(f"{name}: Field required")
    if not isinstance(body["model"], str) or not body["model"]:
        raise invalid("model: Input should be a valid string")
    if not count_tokens:
        max_tokens = body["max_tokens"]
        if not isinstance(max_tokens, int) or isinstance(max_tokens, bool) or max_tokens < 0:
            raise invalid("max_tokens: Input should be a valid non-negative integer")
    if "stream" in body and not isinstance(body["stream"], bool):
        raise invalid("stream: Input should be a valid boolean")
    breakpoints = _check_cache_control(body.get("cache_control"), "cache_control")
    if "tools" in body:
        breakpoints += _check_tools(body["tools"])
    if "system" in body:
        breakpoints += _check_system(body["system"])
    breakpoints += _check_messages(body["messages"])
    if breakpoints > MAX_CACHE_BREAKPOINTS:
        raise invalid(
            f"A maximum of {MAX_CACHE_BREAKPOINTS} blocks with cache_control may be provided. "
            f"Found {breakpoints}."
        )
    if "output_config" in body:
        _check_output_config(body["output_config"])
    choice = body.get("tool_choice")
    if isinstance(choice, Mapping) and choice.get("type") == "tool":
        names = {t.get("name") for t in body.get("tools") or ()}
        if choice.get("name") not in names:
            raise invalid(f"tool_choice.name: tool '{choice.get('name')}' is not in `tools`")
