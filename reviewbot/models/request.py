"""What an agent call is, before any model client exists: the request, its turn plan,
its outcome and its failure, and the cache-prefix helpers a scheduler uses.

Kept apart from ``reviewbot.models.agent`` (the conversation, which needs the
``anthropic`` SDK) so that the runtime can build, key and schedule requests, and a
command that never calls a model can start without importing the SDK.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar

from pydantic import BaseModel

from reviewbot.models.tools import Tool
from reviewbot.models.usage import Usage

M = TypeVar("M", bound=BaseModel)


@dataclass(frozen=True)
class TurnPlan:
    """The worst case of the model turn an agent is about to take (for a budget).

    ``input_tokens`` bounds the turn's input; any of it under a cache breakpoint may be
    billed as a cache write, so a ceiling prices it at the dearest input-side price.
    The output is at most the ``max_tokens`` the turn is sent with; a budget may grant
    less, down to ``min_tokens``.
    """

    turn: int  # 0 for an agent's first turn
    input_tokens: int
    max_tokens: int
    min_tokens: int


class TurnDenied(Exception):
    """Raised by ``AgentRequest.before_turn``: the agent may take no further turn.

    The agent then fails with this reason and the usage of its finished turns.
    """


class Hedge(Protocol):
    """When and whether a request gets a duplicate (the runtime's latency and budget view)."""

    def delay(self) -> float | None:
        """Seconds to wait for the request before sending a duplicate; None: never."""

    def record(self, seconds: float) -> None:
        """A request's latency (a sample for its siblings' quantile)."""

    def reserve(self, input_tokens: int, max_tokens: int) -> int | None:
        """A budget reservation for the duplicate, or None when it does not fit."""

    def settle(self, reservation: int, input_tokens: int) -> None:
        """Book the cancelled request at its input's worst case and drop the reservation."""


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
    # Awaited before every model turn with its worst case; returns the output tokens the
    # turn may use (at most ``plan.max_tokens``) or raises TurnDenied.
    before_turn: Callable[[TurnPlan], Awaitable[int]] | None = None
    # Called with each tool's name as the model asks for it (what the agent looked at).
    on_tool: Callable[[str], None] | None = None
    # Hedged requests for the tail (None: every request is sent once).
    hedge: Hedge | None = None


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
