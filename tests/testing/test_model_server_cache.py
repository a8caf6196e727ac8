"""Prompt-cache accounting: repeated cached prefixes are billed as cache reads."""

from __future__ import annotations

import asyncio
from typing import Any

from anthropic import AsyncAnthropic

from reviewbot.testing import Fixed, PromptCache

MODEL = "claude-sonnet-5-5"  # minimum cacheable prefix: 1024 tokens
LONG = "You review Python code for bugs. " * 200  # ~6,600 characters, ~1,650 tokens
CONTEXT = "def handler(event):\n    return event['x']\n" * 60


def cached_system(text: str = LONG) -> list[dict[str, Any]]:
    return [{"type": "text", "text": text, "cache_control": {"type": "ephemeral"}}]


def create(srv: Any, *, model: str = MODEL, **kw: Any) -> Any:
    async def go() -> Any:
        c = AsyncAnthropic(base_url=srv.base_url, api_key="k")
        return await c.messages.create(model=model, max_tokens=50, **kw)

    return asyncio.run(go())


def count(srv: Any, **kw: Any) -> int:
    async def go() -> int:
        c = AsyncAnthropic(base_url=srv.base_url, api_key="k")
        return (await c.messages.count_tokens(model=MODEL, **kw)).input_tokens

    return asyncio.run(go())


def total(usage: Any) -> int:
    return int(
        usage.input_tokens + usage.cache_read_input_tokens + usage.cache_creation_input_tokens
    )


def test_second_request_reads_the_shared_cached_prefix(model_server: Any) -> None:
    srv = model_server()
    first = create(srv, system=cached_system(), messages=[{"role": "user", "content": "file a"}])
    second = create(srv, system=cached_system(), messages=[{"role": "user", "content": "file b"}])
    assert first.usage.cache_read_input_tokens == 0
    assert first.usage.cache_creation_input_tokens > 1024
    assert second.usage.cache_creation_input_tokens == 0
    assert second.usage.cache_read_input_tokens == first.usage.cache_creation_input_tokens
    assert 0 < second.usage.input_tokens < 20  # only the uncached user turn
    assert total(second.usage) == count(
        srv, system=cached_system(), messages=[{"role": "user", "content": "file b"}]
    )
    assert srv.usage.cache_read_input_tokens == second.usage.cache_read_input_tokens


def test_prefix_below_the_minimum_is_not_cached(model_server: Any) -> None:
    srv = model_server()
    short = cached_system("Short system prompt.")
    for _ in range(2):
        msg = create(srv, system=short, messages=[{"role": "user", "content": "x"}])
        assert msg.usage.cache_creation_input_tokens == 0
        assert msg.usage.cache_read_input_tokens == 0
    haiku_minimum = model_server(min_cache_tokens=10)
    create(haiku_minimum, system=short, messages=[{"role": "user", "content": "x"}])
    again = create(haiku_minimum, system=short, messages=[{"role": "user", "content": "y"}])
    assert again.usage.cache_read_input_tokens > 0


def test_cache_is_per_model_and_per_exact_prefix(model_server: Any) -> None:
    srv = model_server()
    create(srv, system=cached_system(), messages=[{"role": "user", "content": "a"}])
    other_model = create(
        srv,
        model="claude-opus-5-5",
        system=cached_system(),
        messages=[{"role": "user", "content": "a"}],
    )
    assert other_model.usage.cache_read_input_tokens == 0
    changed = create(
        srv, system=cached_system(LONG + "!"), messages=[{"role": "user", "content": "a"}]
    )
    assert changed.usage.cache_read_input_tokens == 0
    assert changed.usage.cache_creation_input_tokens > 0


def test_conversation_breakpoint_extends_the_cached_prefix(model_server: Any) -> None:
    srv = model_server()
    turn1 = [
        {
            "role": "user",
            "content": [{"type": "text", "text": CONTEXT, "cache_control": {"type": "ephemeral"}}],
        }
    ]
    first = create(srv, system=cached_system(), messages=turn1)
    turn2 = turn1 + [
        {"role": "assistant", "content": "Looked."},
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "More: " + CONTEXT, "cache_control": {"type": "ephemeral"}}
            ],
        },
    ]
    second = create(srv, system=cached_system(), messages=turn2)
    assert second.usage.cache_read_input_tokens == first.usage.cache_creation_input_tokens
    assert second.usage.cache_creation_input_tokens > 500  # the new turn got cached
    assert total(second.usage) == count(srv, system=cached_system(), messages=turn2)


def test_top_level_cache_control_caches_through_the_last_block(model_server: Any) -> None:
    srv = model_server()
    msgs = [{"role": "user", "content": CONTEXT * 2}]
    first = create(srv, messages=msgs, cache_control={"type": "ephemeral"})
    second = create(srv, messages=msgs, cache_control={"type": "ephemeral"})
    assert first.usage.cache_creation_input_tokens > 1024
    assert second.usage.cache_read_input_tokens == first.usage.cache_creation_input_tokens
    assert second.usage.input_tokens == 0


def test_siblings_sent_together_all_miss_then_later_ones_hit(model_server: Any) -> None:
    srv = model_server(latency=Fixed(0.2))

    async def go() -> list[Any]:
        c = AsyncAnthropic(base_url=srv.base_url, api_key="k")

        def one(i: int) -> Any:
            return c.messages.create(
                model=MODEL,
                max_tokens=20,
                system=cached_system(),
                messages=[{"role": "user", "content": f"file {i}"}],
            )

        together = await asyncio.gather(*[one(i) for i in range(4)])
        later = await one(99)
        return [*together, later]

    *together, later = asyncio.run(go())
    assert all(m.usage.cache_read_input_tokens == 0 for m in together)
    assert all(m.usage.cache_creation_input_tokens > 0 for m in together)
    assert later.usage.cache_read_input_tokens > 0


def test_entries_expire_after_their_ttl() -> None:
    now = [0.0]
    cache = PromptCache(min_tokens=1, clock=lambda: now[0])

    def body(ttl: str | None = None) -> dict[str, Any]:
        cc: dict[str, Any] = {"type": "ephemeral"}
        if ttl:
            cc["ttl"] = ttl
        return {
            "system": [{"type": "text", "text": "x" * 100, "cache_control": cc}],
            "messages": [{"role": "user", "content": "q"}],
        }

    cache.commit(cache.plan(MODEL, body()))
    now[0] = 299.0
    assert cache.plan(MODEL, body()).usage.cache_read_input_tokens > 0  # refreshes the entry
    now[0] = 299.0 + 301.0
    assert cache.plan(MODEL, body()).usage.cache_read_input_tokens == 0
    cache.commit(cache.plan(MODEL, body("1h")))
    now[0] += 3000
    assert cache.plan(MODEL, body("1h")).usage.cache_read_input_tokens > 0
