"""The request a handler sees: the parsed Messages API body with convenience accessors."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

_ROLE_LINE = re.compile(r"^Role:\s*(\S+)\s*$", re.MULTILINE)


def block_text(content: Any) -> str:
    """The text of a message content (string or block list), tool results included."""
    if isinstance(content, str):
        return content
    parts: list[str] = []
    for block in content or ():
        if not isinstance(block, Mapping):
            continue
        kind = block.get("type")
        if kind == "text":
            parts.append(str(block.get("text", "")))
        elif kind == "tool_result":
            parts.append(block_text(block.get("content", "")))
    return "\n".join(p for p in parts if p)


@dataclass(frozen=True)
class ToolResult:
    tool_use_id: str
    name: str | None  # the tool the previous assistant turn called under that id
    text: str
    is_error: bool


@dataclass(frozen=True)
class MessagesRequest:
    """One ``POST /v1/messages`` (or ``count_tokens``) request, already validated."""

    body: Mapping[str, Any]
    headers: Mapping[str, str] = field(default_factory=dict)  # lower-case names
    path: str = "/v1/messages"

    @property
    def model(self) -> str:
        return str(self.body.get("model", ""))

    @property
    def max_tokens(self) -> int:
        return int(self.body.get("max_tokens", 0))

    @property
    def messages(self) -> list[Mapping[str, Any]]:
        return list(self.body.get("messages", ()))

    @cached_property
    def system_text(self) -> str:
        system = self.body.get("system")
        if system is None:
            return ""
        return block_text(system)

    @cached_property
    def role(self) -> str | None:
        """The agent role, from a ``Role: <role>`` line in the system prompt."""
        match = _ROLE_LINE.search(self.system_text)
        return match.group(1) if match else None

    @property
    def last_user_text(self) -> str:
        for message in reversed(self.messages):
            if message.get("role") == "user":
                return block_text(message.get("content"))
        return ""

    @cached_property
    def all_text(self) -> str:
        """System prompt and every message's text, in order."""
        parts = [self.system_text] + [block_text(m.get("content")) for m in self.messages]
        return "\n".join(p for p in parts if p)

    @property
    def tool_defs(self) -> list[Mapping[str, Any]]:
        return list(self.body.get("tools", ()))

    @property
    def tools(self) -> list[str]:
        """Names of the tools offered."""
        return [str(t.get("name")) for t in self.tool_defs]

    @property
    def output_schema(self) -> dict[str, Any] | None:
        """The JSON schema of ``output_config.format`` (structured output), if any."""
        fmt = (self.body.get("output_config") or {}).get("format")
        if isinstance(fmt, Mapping) and fmt.get("type") == "json_schema":
            schema = fmt.get("schema")
            return dict(schema) if isinstance(schema, Mapping) else None
        return None

    @property
    def turn(self) -> int:
        """How many assistant turns the conversation already holds (0 on the first call)."""
        return sum(1 for m in self.messages if m.get("role") == "assistant")

    @property
    def tool_results(self) -> list[ToolResult]:
        """The ``tool_result`` blocks of the last user turn, with the called tool's name."""
        msgs = self.messages
        if not msgs or msgs[-1].get("role") != "user" or isinstance(msgs[-1].get("content"), str):
            return []
        names: dict[str, str] = {}
        if len(msgs) >= 2 and not isinstance(msgs[-2].get("content"), str):
            for block in msgs[-2].get("content") or ():
                if block.get("type") == "tool_use":
                    names[str(block.get("id"))] = str(block.get("name"))
        results = []
        for block in msgs[-1].get("content") or ():
            if block.get("type") == "tool_result":
                use_id = str(block.get("tool_use_id"))
                results.append(
                    ToolResult(
                        tool_use_id=use_id,
                        name=names.get(use_id),
                        text=block_text(block.get("content", "")),
                        is_error=bool(block.get("is_error", False)),
                    )
                )
        return results

    def __contains__(self, needle: str) -> bool:
        """``"needle" in request``: substring of the system prompt or any message."""
        return needle in self.all_text
