"""The slot policy of pipelines: later stages first, the last items earliest stage first."""

from __future__ import annotations

import re
from typing import Any

import anyio
from rt_helpers import Answer, make_config

from reviewbot.runtime import Run
from reviewbot.runtime.scheduler import PLAIN, Slots, pipeline_priority, tail_items
from reviewbot.testing import MessagesRequest

CALL = re.compile(r"stage (\d+) of item (\d+)")


def echo(req: MessagesRequest) -> dict[str, str]:
    return {"answer": req.last_user_text}


def three_stages(run: Run) -> list[Any]:
    def stage(k: int):  # noqa: ANN202
        async def go(value: Any) -> Any:
            item = value if k == 1 else value[0]
            await run.agent(f"stage {k} of item {item}", schema=Answer, role="finder")
            return (item, k)

        return go

    return [stage(1), stage(2), stage(3)]


def calls_in_order(srv: Any) -> list[tuple[int, int]]:
    """(item, stage) of every request the server got, in arrival order."""
    out = []
    for req in srv.requests:
        m = CALL.search(req.last_user_text)
        assert m, req.last_user_text
        out.append((int(m.group(2)), int(m.group(1))))
    return out


def test_tail_is_a_quarter_of_the_items_at_most_four_rounds_of_slots() -> None:
    assert tail_items(1000, 64) == 250
    assert tail_items(3000, 64) == 256
    assert tail_items(3, 64) == 0
    # Head items: later stages first; all of them before any tail item; tail: earlier first.
    head = [pipeline_priority(d, tail=False) for d in (0, 1, 2)]
    tail = [pipeline_priority(d, tail=True) for d in (0, 1, 2)]
    assert head[2] < head[1] < head[0] == PLAIN < tail[0] < tail[1] < tail[2]


def test_slots_serve_lowest_priority_first_then_in_arrival_order() -> None:
    served: list[str] = []

    async def main() -> None:
        slots = Slots(1)
        await slots.acquire()  # held: everyone below has to wait

        async def wait(name: str, priority: tuple[int, int]) -> None:
            await slots.acquire(priority)
            served.append(name)
            slots.release()

        async with anyio.create_task_group() as tg:
            for name, priority in [("new-a", (0, 0)), ("tail", (1, 0)), ("deep", (0, -2)),
                                   ("new-b", (0, 0)), ("mid", (0, -1))]:
                tg.start_soon(wait, name, priority)
                await anyio.sleep(0.01)  # arrive in this order
            assert slots.waiting == 5
            slots.release()

    anyio.run(main)
    assert served == ["deep", "mid", "new-a", "new-b", "tail"]


def test_pipeline_runs_head_items_whole_and_tail_items_stage_by_stage(
    server_factory, runs
) -> None:
    srv = server_factory(echo)
    items = 16  # concurrency 1: the tail is items 12..15

    async def body(run: Run) -> list[Any]:
        return await run.pipeline(range(items), *three_stages(run))

    results, run = runs(srv, config=make_config(concurrency=1))(body)
    assert results == [(i, 3) for i in range(items)]
    order = calls_in_order(srv)
    assert len(order) == 3 * items

    # Head items finish before new ones start: a freed slot goes to the best call waiting
    # at that moment, so at most one more item is in flight than there are slots.
    open_items: set[int] = set()
    most_open = 0
    for item, stage in order:
        if item < 12:
            open_items.add(item)
            most_open = max(most_open, len(open_items))
            if stage == 3:
                open_items.discard(item)
    assert most_open <= 2

    # Tail items go most remaining stages first: every first stage, then every second...
    tail_order = [(item, stage) for item, stage in order if item >= 12]
    assert [stage for _, stage in tail_order] == [1] * 4 + [2] * 4 + [3] * 4
    # ...and only once the head items are all under way.
    first_tail = order.index(tail_order[0])
    assert {item for item, _ in order[:first_tail]} == set(range(12))


def test_backstop_stop_in_a_pipeline_leaves_whole_items(server_factory, runs) -> None:
    srv = server_factory(echo)

    async def body(run: Run) -> list[Any]:
        return await run.pipeline(range(20), *three_stages(run))

    results, run = runs(srv, config=make_config(concurrency=2), max_agents=15)(body)
    assert run.stop_reason == "max_agents" and srv.calls == 15
    whole = [r for r in results if r is not None]
    # 15 calls are at most 5 whole items. A freed slot goes to the best call waiting at
    # that moment, before the finishing item asks for its next stage, so a few items are
    # open at the stop; most-remaining-first would leave none whole (15 first stages).
    assert len(whole) >= 3
