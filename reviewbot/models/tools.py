"""Agent tools: plain typed Python functions turned into tool definitions.

A tool never raises into the agent loop. Arguments that do not validate and
exceptions raised by the function come back as an ``is_error`` result, which
the model sees and can correct; the loop goes on.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, get_type_hints, overload

from pydantic import BaseModel, ConfigDict, ValidationError, create_model

_NAME = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")

# Tool output beyond this many characters is cut: one runaway tool (a huge file,
# a long log) must not blow up the context of every later turn.
MAX_TOOL_OUTPUT_CHARS = 60_000


@dataclass(frozen=True, slots=True)
class ToolResult:
    content: str
    is_error: bool = False


def _render(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, BaseModel):
        return value.model_dump_json()
    return json.dumps(value, default=str, ensure_ascii=False)


def _truncate(text: str) -> str:
    if len(text) <= MAX_TOOL_OUTPUT_CHARS:
        return text
    cut = len(text) - MAX_TOOL_OUTPUT_CHARS
    return text[:MAX_TOOL_OUTPUT_CHARS] + f"\n[output truncated: {cut} more characters]"


def _describe_validation(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors(include_url=False):
        where = ".".join(str(p) for p in err["loc"]) or "(arguments)"
        parts.append(f"{where}: {err['msg']}")
    return "; ".join(parts)


class Tool:
    """A tool the model may call: its definition and how to run it."""

    def __init__(
        self,
        name: str,
        description: str,
        fn: Callable[..., Any],
        args_model: type[BaseModel],
    ) -> None:
        if not _NAME.match(name):
            raise ValueError(f"tool name {name!r}: use 1-64 letters, digits, '_' or '-'")
        self.name = name
        self.description = description
        self._fn = fn
        self._args_model = args_model
        self._is_async = inspect.iscoroutinefunction(fn)
        schema = args_model.model_json_schema()
        schema.pop("title", None)
        self.input_schema: dict[str, Any] = schema

    def __repr__(self) -> str:
        return f"Tool({self.name!r})"

    def definition(self) -> dict[str, Any]:
        """The entry for the request's ``tools`` list."""
        return {
            "name": self.name,
            "description": self.description,
            "input_schema": self.input_schema,
        }

    async def invoke(self, args: dict[str, Any]) -> ToolResult:
        try:
            parsed = self._args_model.model_validate(args)
        except ValidationError as exc:
            return ToolResult(
                f"invalid arguments for {self.name}: {_describe_validation(exc)}", True
            )
        kwargs = {field: getattr(parsed, field) for field in type(parsed).model_fields}
        try:
            if self._is_async:
                value = await self._fn(**kwargs)
            else:
                # Sync tools (file reads, git lookups) run off the event loop so
                # sibling agents keep going.
                value = await asyncio.to_thread(self._fn, **kwargs)
        # A failing tool is information for the model, not a crash of the agent:
        # whatever it raised goes back as an error result.
        except Exception as exc:
            return ToolResult(_truncate(f"{type(exc).__name__}: {exc}"), True)
        return ToolResult(_truncate(_render(value)))


def _args_model_for(fn: Callable[..., Any]) -> type[BaseModel]:
    signature = inspect.signature(fn)
    hints = get_type_hints(fn, include_extras=True)
    fields: dict[str, Any] = {}
    for param in signature.parameters.values():
        if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            raise TypeError(f"tool {fn.__name__}: *args/**kwargs cannot be described to the model")
        if param.name not in hints:
            raise TypeError(f"tool {fn.__name__}: parameter '{param.name}' needs a type annotation")
        default = ... if param.default is param.empty else param.default
        fields[param.name] = (hints[param.name], default)
    return create_model(
        f"{fn.__name__}_args",
        __config__=ConfigDict(extra="forbid"),
        **fields,
    )


@overload
def tool(fn: Callable[..., Any], /) -> Tool: ...


@overload
def tool(
    *, name: str | None = None, description: str | None = None
) -> Callable[[Callable[..., Any]], Tool]: ...


def tool(
    fn: Callable[..., Any] | None = None,
    /,
    *,
    name: str | None = None,
    description: str | None = None,
) -> Tool | Callable[[Callable[..., Any]], Tool]:
    """Make a :class:`Tool` from a typed function (sync or async).

    The function's name is the tool name and its docstring the description;
    parameters become the input schema (through pydantic, so defaults, nested
    models and ``Annotated[..., Field(description=...)]`` work). Usable as
    ``tool(fn)``, ``@tool`` or ``@tool(name=..., description=...)``.
    """

    def build(f: Callable[..., Any]) -> Tool:
        doc = description or inspect.getdoc(f)
        if not doc:
            raise TypeError(
                f"tool {f.__name__}: add a docstring; it is the description the model reads"
            )
        return Tool(name or f.__name__, doc, f, _args_model_for(f))

    if fn is not None:
        return build(fn)
    return build
