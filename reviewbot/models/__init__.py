"""The model layer: client, pricing, tools and the sub-agent loop.

Everything above this layer talks to models through :func:`run_agent`.
"""

from reviewbot.models.access import ModelAccess, make_client, model_access
from reviewbot.models.agent import (
    MIN_SHARED_PREFIX_TOKENS,
    AgentFailed,
    AgentOutcome,
    AgentRequest,
    cache_prefix_key,
    run_agent,
    shared_prefix_tokens,
)
from reviewbot.models.pricing import BUILTIN_PRICES, cost_usd, is_priced, price_for
from reviewbot.models.prompt import MAX_CACHE_BREAKPOINTS, SYSTEM_PREAMBLE, data_block
from reviewbot.models.schema import output_schema
from reviewbot.models.tools import Tool, ToolResult, tool
from reviewbot.models.usage import Usage

__all__ = [
    "BUILTIN_PRICES",
    "MAX_CACHE_BREAKPOINTS",
    "SYSTEM_PREAMBLE",
    "AgentFailed",
    "AgentOutcome",
    "AgentRequest",
    "ModelAccess",
    "Tool",
    "ToolResult",
    "Usage",
    "cache_prefix_key",
    "shared_prefix_tokens",
    "MIN_SHARED_PREFIX_TOKENS",
    "cost_usd",
    "data_block",
    "is_priced",
    "make_client",
    "model_access",
    "output_schema",
    "price_for",
    "run_agent",
    "tool",
]
