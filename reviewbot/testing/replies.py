"""What a handler tells the loopback server to answer.

A :class:`Reply` is either a model message (text and/or tool_use blocks with a
stop reason) or a transport-level behaviour: an API error, a hung connection,
or a body that is not JSON.
"""

from __future__ import annotations

import json
import secrets
import string
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from pydantic import BaseModel

ReplyKind = Literal["message", "error", "hang", "malformed"]
StopReason = Literal["end_turn", "tool_use", "max_tokens", "stop_sequence", "refusal", "pause_turn"]

_ALPHABET = string.ascii_letters + string.digits


def new_id(prefix: str) -> str:
    """An id shaped like the API's (``msg_01...``, ``toolu_01...``, ``req_01...``)."""
    return prefix + "01" + "".join(secrets.choice(_ALPHABET) for _ in range(22))


def _json_text(obj: Any) -> str:
    if isinstance(obj, BaseModel):
        return obj.model_dump_json()
    return json.dumps(obj)


@dataclass(frozen=True)
class Reply:
    """One answer; build it with the class methods below.

    ``output_tokens`` (exact usage instead of the estimate) and ``headers`` (extra
    response headers) can be set with ``dataclasses.replace(reply, ...)``.
    """

    kind: ReplyKind = "message"
    content: tuple[dict[str, Any], ...] = ()
    stop_reason: StopReason = "end_turn"
    stop_sequence: str | None = None
    # errors
    status: int = 200
    error_type: str = ""
    message: str = ""
    retry_after: float | None = None
    # hang / malformed
    seconds: float = 0.0
    body: bytes = b""
    content_type: str = "application/json"
    # overrides of the server's own token accounting, when a test needs exact numbers
    output_tokens: int | None = None
    headers: Mapping[str, str] = field(default_factory=dict)

    # --- model messages -------------------------------------------------------------
    @classmethod
    def text(cls, text: str, *, stop_reason: StopReason = "end_turn") -> Reply:
        """One text block."""
        return cls(content=({"type": "text", "text": text},), stop_reason=stop_reason)

    @classmethod
    def json(cls, obj: Any) -> Reply:
        """One text block holding ``obj`` as JSON: a structured-output answer.

        Accepts dicts, lists and pydantic models. Nothing checks ``obj`` against the
        request's schema here, so a deliberately wrong object tests retry paths.
        """
        return cls.text(_json_text(obj))

    @classmethod
    def tool_use(
        cls, name: str, input: Mapping[str, Any], *, id: str | None = None, text: str | None = None
    ) -> Reply:
        """One tool call (optionally after some text); stop_reason ``tool_use``."""
        return cls.tool_uses([(name, input)], ids=[id] if id else None, text=text)

    @classmethod
    def tool_uses(
        cls,
        calls: Iterable[tuple[str, Mapping[str, Any]]],
        *,
        ids: Iterable[str] | None = None,
        text: str | None = None,
    ) -> Reply:
        """Several parallel tool calls in one assistant turn."""
        blocks: list[dict[str, Any]] = []
        if text:
            blocks.append({"type": "text", "text": text})
        id_list = list(ids) if ids is not None else []
        for i, (name, args) in enumerate(calls):
            call_id = id_list[i] if i < len(id_list) else new_id("toolu_")
            blocks.append({"type": "tool_use", "id": call_id, "name": name, "input": dict(args)})
        if not any(b["type"] == "tool_use" for b in blocks):
            raise ValueError("Reply.tool_uses needs at least one call")
        return cls(content=tuple(blocks), stop_reason="tool_use")

    @classmethod
    def blocks(cls, content: Iterable[Mapping[str, Any]], stop_reason: StopReason) -> Reply:
        """Any content blocks with an explicit stop reason."""
        return cls(content=tuple(dict(b) for b in content), stop_reason=stop_reason)

    def with_thinking(self, thinking: str) -> Reply:
        """This message preceded by a thinking block, as models with thinking on answer.

        A client continuing a tool loop must send such blocks back unchanged.
        """
        block = {"type": "thinking", "thinking": thinking, "signature": new_id("sig_")}
        return replace(self, content=(block, *self.content))

    @classmethod
    def refusal(cls, text: str = "I can't help with that.") -> Reply:
        """The model declined: stop_reason ``refusal``."""
        return cls.text(text, stop_reason="refusal")

    # --- failures -------------------------------------------------------------------
    @classmethod
    def error(
        cls, status: int, error_type: str, message: str = "", *, retry_after: float | None = None
    ) -> Reply:
        """An API error body ``{"type": "error", "error": {...}}`` with this status."""
        return cls(
            kind="error",
            status=status,
            error_type=error_type,
            message=message or error_type.replace("_", " "),
            retry_after=retry_after,
        )

    @classmethod
    def rate_limited(cls, retry_after: float = 1.0) -> Reply:
        return cls.error(
            429,
            "rate_limit_error",
            "Number of requests has exceeded your rate limit",
            retry_after=retry_after,
        )

    @classmethod
    def overloaded(cls) -> Reply:
        return cls.error(529, "overloaded_error", "Overloaded")

    @classmethod
    def server_error(cls) -> Reply:
        return cls.error(500, "api_error", "Internal server error")

    @classmethod
    def hang(cls, seconds: float = 3600.0) -> Reply:
        """Hold the connection open for ``seconds`` without answering, then drop it."""
        return cls(kind="hang", seconds=seconds)

    @classmethod
    def malformed(
        cls,
        body: bytes = b'{"id": "msg_01',
        status: int = 200,
        content_type: str = "application/json",
    ) -> Reply:
        """A response with this raw body: by default JSON cut short (content-type still
        says JSON); also any other body, e.g. a proxy's HTML page or JSON that is not a
        Message."""
        return cls(kind="malformed", body=body, status=status, content_type=content_type)

    @classmethod
    def html(cls, status: int = 200) -> Reply:
        """An HTML page where a Message belongs, as a misconfigured proxy answers."""
        page = b"<html><head><title>Bad Gateway</title></head><body>upstream</body></html>"
        return cls.malformed(page, status, content_type="text/html; charset=utf-8")


def coerce_reply(value: Any) -> Reply:
    """A handler's return value as a Reply: dict/list/model means JSON, str means text."""
    if isinstance(value, Reply):
        return value
    if isinstance(value, str):
        return Reply.text(value)
    if isinstance(value, (dict, list, BaseModel)):
        return Reply.json(value)
    raise TypeError(
        f"a model-server handler must return Reply, dict, list, pydantic model or str, "
        f"not {type(value).__name__}"
    )
