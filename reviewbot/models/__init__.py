"""The model layer: client, pricing, tools and the sub-agent loop.

Everything above this layer talks to models through :func:`run_agent`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from reviewbot.lazy import lazy_exports

_WHERE = {
    "ModelAccess": "access",
    "make_client": "access",
    "model_access": "access",
    "MIN_SHARED_PREFIX_TOKENS": "request",
    "AgentFailed": "request",
    "AgentOutcome": "request",
    "AgentRequest": "request",
    "cache_prefix_key": "request",
    "run_agent": "agent",
    "shared_prefix_tokens": "request",
    "BUILTIN_PRICES": "pricing",
    "cost_usd": "pricing",
    "is_priced": "pricing",
    "price_for": "pricing",
    "MAX_CACHE_BREAKPOINTS": "prompt",
    "SYSTEM_PREAMBLE": "prompt",
    "data_block": "prompt",
    "output_schema": "schema",
    "Tool": "tools",
    "ToolResult": "tools",
    "tool": "tools",
    "Usage": "usage",
}

__all__ = [
    "AgentFailed",
    "AgentOutcome",
    "AgentRequest",
    "BUILTIN_PRICES",
    "MAX_CACHE_BREAKPOINTS",
    "MIN_SHARED_PREFIX_TOKENS",
    "ModelAccess",
    "SYSTEM_PREAMBLE",
    "Tool",
    "ToolResult",
    "Usage",
    "cache_prefix_key",
    "cost_usd",
    "data_block",
    "is_priced",
    "make_client",
    "model_access",
    "output_schema",
    "price_for",
    "run_agent",
    "shared_prefix_tokens",
    "tool",
]

if TYPE_CHECKING:
    from reviewbot.models.access import ModelAccess, make_client, model_access
    from reviewbot.models.agent import run_agent
    from reviewbot.models.pricing import BUILTIN_PRICES, cost_usd, is_priced, price_for
    from reviewbot.models.prompt import MAX_CACHE_BREAKPOINTS, SYSTEM_PREAMBLE, data_block
    from reviewbot.models.request import (
        MIN_SHARED_PREFIX_TOKENS,
        AgentFailed,
        AgentOutcome,
        AgentRequest,
        cache_prefix_key,
        shared_prefix_tokens,
    )
    from reviewbot.models.schema import output_schema
    from reviewbot.models.tools import Tool, ToolResult, tool
    from reviewbot.models.usage import Usage


__getattr__ = lazy_exports(__name__, _WHERE)
