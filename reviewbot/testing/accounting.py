"""Deterministic token estimates and prompt-cache accounting for the loopback server.

Tokens are estimated as one per four characters of the compact JSON of each
block (tools, system blocks, message content blocks). The prompt is the ordered
sequence of those blocks: tools, then system, then messages, as the API orders
its cache prefix. A ``cache_control`` breakpoint caches the prefix ending at its
block; a later request of the same model whose prefix hashes the same reads
that prefix from the cache. Entries become readable only once the request that
wrote them has been answered (siblings sent at the same moment all miss, as on
the real service), and expire ``ttl`` after their last use.
"""

from __future__ import annotations

import hashlib
import json
import math
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from reviewbot.models.usage import Usage

CHARS_PER_TOKEN = 4
DEFAULT_TTL_S = 300.0
LONG_TTL_S = 3600.0

# Minimum cacheable prefix (tokens) by model-id prefix; the first match wins.
# Shorter prefixes are neither written nor read, silently, as the API does.
MIN_CACHE_TOKENS: tuple[tuple[str, int], ...] = (
    ("claude-opus-4-5", 4096),
    ("claude-opus-4-6", 4096),
    ("claude-opus-4-7", 4096),
    ("claude-haiku-4-5", 4096),
    ("claude-sonnet-4-6", 2048),
    ("claude-haiku-3", 2048),
    ("claude-opus-5", 512),
    ("claude-fable-5", 512),
    ("claude-mythos-5", 512),
    ("claude-", 1024),
)


def min_cache_tokens_for(model: str) -> int:
    for prefix, tokens in MIN_CACHE_TOKENS:
        if model.startswith(prefix):
            return tokens
    return 1024


def estimate_tokens(text: str) -> int:
    return math.ceil(len(text) / CHARS_PER_TOKEN) if text else 0


def _canonical(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _without_cache_control(block: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in block.items() if k != "cache_control"}


@dataclass(frozen=True)
class Segment:
    """One cacheable block of the prompt, in prefix order."""

    key: str  # canonical text the prefix hash covers
    tokens: int
    breakpoint_ttl: float | None  # set when the block carries cache_control


def _ttl(cache_control: Any) -> float:
    if isinstance(cache_control, Mapping) and cache_control.get("ttl") == "1h":
        return LONG_TTL_S
    return DEFAULT_TTL_S


def prompt_segments(body: Mapping[str, Any]) -> list[Segment]:
    """The request's prompt as ordered segments: tools, system, then message blocks."""
    segments: list[Segment] = []

    def add(kind: str, block: Mapping[str, Any]) -> None:
        key = kind + ":" + _canonical(_without_cache_control(block))
        cc = block.get("cache_control")
        segments.append(Segment(key, estimate_tokens(key), _ttl(cc) if cc else None))

    for tool in body.get("tools") or ():
        add("tool", tool)
    system = body.get("system")
    if isinstance(system, str):
        if system:
            add("system", {"type": "text", "text": system})
    elif system:
        for block in system:
            add("system", block)
    for index, message in enumerate(body.get("messages") or ()):
        role = f"{message.get('role')}#{index}"
        content = message.get("content")
        if isinstance(content, str):
            add(role, {"type": "text", "text": content})
        else:
            for block in content or ():
                add(role, block)
    top = body.get("cache_control")
    if top and segments:
        # top-level cache_control marks the last cacheable block
        last = segments[-1]
        segments[-1] = Segment(last.key, last.tokens, _ttl(top))
    return segments


def count_input_tokens(body: Mapping[str, Any], segments: list[Segment] | None = None) -> int:
    """All input tokens of a request, cache aside (what ``count_tokens`` answers)."""
    if segments is None:
        segments = prompt_segments(body)
    extra = body.get("output_config")
    schema_tokens = estimate_tokens(_canonical(extra)) if extra else 0
    return sum(s.tokens for s in segments) + schema_tokens


@dataclass(frozen=True)
class CachePlan:
    """The usage of one request as decided on arrival, and the entries it will write."""

    usage: Usage
    writes: tuple[tuple[str, float], ...]  # (entry key, ttl)


class PromptCache:
    """Prefix cache shared by all requests to one server, keyed by model and prefix hash."""

    def __init__(
        self,
        min_tokens: int | Callable[[str], int] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if min_tokens is None:
            self._min_tokens: Callable[[str], int] = min_cache_tokens_for
        elif isinstance(min_tokens, int):
            fixed = min_tokens
            self._min_tokens = lambda _model: fixed
        else:
            self._min_tokens = min_tokens
        self._clock = clock
        self._entries: dict[str, tuple[float, float]] = {}  # key -> (expires_at, ttl)
        self._lock = threading.Lock()

    def plan(self, model: str, body: Mapping[str, Any]) -> CachePlan:
        """Bill a request: cached prefix read, newly cached part written, the rest input."""
        segments = prompt_segments(body)
        total = count_input_tokens(body, segments)
        minimum = self._min_tokens(model)
        hashes: list[str] = []
        cumulative: list[int] = []
        digest = hashlib.sha256(model.encode())
        running = 0
        for seg in segments:
            digest.update(b"\x00" + seg.key.encode())
            hashes.append(digest.hexdigest())
            running += seg.tokens
            cumulative.append(running)
        breakpoints = [
            i
            for i, seg in enumerate(segments)
            if seg.breakpoint_ttl is not None and cumulative[i] >= minimum
        ]
        if not breakpoints:
            return CachePlan(Usage(input_tokens=total), ())
        now = self._clock()
        read_upto = -1
        with self._lock:
            # the API looks back from each breakpoint for the longest prefix it holds
            for i in range(breakpoints[-1], -1, -1):
                entry = self._entries.get(hashes[i])
                if entry is not None and entry[0] > now:
                    read_upto = i
                    self._entries[hashes[i]] = (now + entry[1], entry[1])
                    break
        read = cumulative[read_upto] if read_upto >= 0 else 0
        last = breakpoints[-1]
        created = cumulative[last] - read if last > read_upto else 0
        writes = tuple(
            (hashes[i], segments[i].breakpoint_ttl or DEFAULT_TTL_S)
            for i in breakpoints
            if i > read_upto
        )
        usage = Usage(
            input_tokens=total - read - created,
            cache_creation_input_tokens=created,
            cache_read_input_tokens=read,
        )
        return CachePlan(usage, writes)

    def commit(self, plan: CachePlan) -> None:
        """Make a plan's entries readable (called once its response has been sent)."""
        if not plan.writes:
            return
        now = self._clock()
        with self._lock:
            for key, ttl in plan.writes:
                self._entries[key] = (now + ttl, ttl)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
