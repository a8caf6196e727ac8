"""Admission control for agent calls: concurrency caps, the backstop and the budget.

Concurrency slots are priority queues rather than FIFO semaphores; the order
of a pipeline's calls is :func:`pipeline_priority`. Most items go later stages
first: a waiting call deeper in the pipeline goes before a call that would
start a new item, so an item runs through its stages soon after it starts and
a budget stop leaves whole items, not a thousand items stuck in stage 2. The
last items (:func:`tail_items`) go the other way, most remaining stages first,
so the run ends on single calls that can run side by side rather than on
chains of calls that cannot. Simulated on 1,000 three-stage items of lognormal
latency (sigma 1) at concurrency 64, averaged over 50-200 latency draws,
pure most-remaining-first ends 4-5% of the lower bound sooner than pure
later-stages-first (it reaches the floor of any policy that cannot see
latencies in advance) but finishes no item before two thirds of the calls have
run; this mix gets ~1.5% back (small next to the spread between draws) and
keeps whole items up to the last quarter of the run. First-come-first-served
behaves like most-remaining-first here, because every item's first request
arrives at once. See ``bench/runtime.py`` for the comparison.

Budget policy (dollars and tokens). Before an agent starts it reserves an
estimate of what it will cost:

* before any call of that model has finished: the prompt's input tokens
  (characters / 4, rounded up) at the input price plus ``max_tokens`` output at
  the output price, i.e. a full single turn;
* afterwards: the largest cost (and token count) any finished call of that
  model has had, never less than the single-turn estimate's input part.

An agent may start only if ``spent + reservations of running agents + its own
reservation`` fits the budget, where a running agent whose usage so far already
exceeds its reservation counts with its usage. When it does not fit and other
agents are running, it waits for one of them to finish (their real cost usually
frees room) and checks again; when nothing is running and it still does not fit,
the run stops with reason ``budget``. So a run overshoots only by what running
agents spend beyond their reservations, which the worst-case reservation makes
rare and small.

The backstop counts every agent that starts (and every one replayed from the
journal, so that a resumed run takes the same shape); when ``max_agents`` have
started, the next one stops the run with reason ``max_agents``. A stopped run
starts no new agent; running ones finish.
"""

from __future__ import annotations

import heapq
import itertools
import math
from collections.abc import Callable
from dataclasses import dataclass, field

import anyio

from reviewbot.models.usage import Usage
from reviewbot.runtime.errors import RunStopped

CostOf = Callable[[str, Usage], float]

# Lower goes first; compared as tuples, so callers of different kinds share one order.
Priority = tuple[int, int]
# An agent call outside any pipeline: after later pipeline stages, before tail items.
PLAIN: Priority = (0, 0)

# The tail is the last quarter of a pipeline's items, at most four rounds of slots:
# enough for the run to end on single calls, few enough that a budget stop still
# finds whole items for most of the run.
TAIL_SHARE = 4
TAIL_ROUNDS = 4


def tail_items(items: int, concurrency: int) -> int:
    """How many of a pipeline's last items run most-remaining-stages-first."""
    return min(items // TAIL_SHARE, TAIL_ROUNDS * concurrency)


def pipeline_priority(depth: int, *, tail: bool) -> Priority:
    """The slot priority of a call ``depth`` stages into (possibly nested) pipelines.

    Head items: deeper first, all before tail items. Tail items: shallower first.
    """
    return (1, depth) if tail else (0, -depth)


class Slots:
    """A counting semaphore whose waiters are served lowest priority value first."""

    def __init__(self, total: int) -> None:
        self.total = total
        self.free = total
        self._waiters: list[list[object]] = []  # [priority, seq, event, alive]; FIFO on ties
        self._seq = itertools.count()

    async def acquire(self, priority: Priority = PLAIN) -> None:
        if self.free > 0 and not self._waiters:
            self.free -= 1
            return
        event = anyio.Event()
        entry: list[object] = [priority, next(self._seq), event, True]
        heapq.heappush(self._waiters, entry)
        try:
            await event.wait()
        except BaseException:
            if event.is_set():
                self.release()  # the slot was handed to us just as we were cancelled
            else:
                entry[3] = False
            raise

    def release(self) -> None:
        while self._waiters:
            entry = heapq.heappop(self._waiters)
            if entry[3]:
                event = entry[2]
                assert isinstance(event, anyio.Event)
                event.set()  # hand the slot over directly: no window for a newcomer
                return
        self.free += 1

    @property
    def waiting(self) -> int:
        return sum(1 for e in self._waiters if e[3])


@dataclass
class Ticket:
    """One admitted agent: its reservation and what it has spent so far."""

    model: str
    reserve_usd: float
    reserve_tokens: int
    live_usd: float = 0.0
    live_tokens: int = 0


@dataclass
class _Observed:
    max_usd: float = 0.0
    max_tokens: int = 0
    calls: int = 0


@dataclass
class Scheduler:
    concurrency: int
    max_agents: int
    cost_of: CostOf
    role_concurrency: dict[str, int] = field(default_factory=dict)
    budget_usd: float | None = None
    budget_tokens: int | None = None

    def __post_init__(self) -> None:
        self.slots = Slots(self.concurrency)
        self._role_slots = {role: Slots(n) for role, n in self.role_concurrency.items()}
        self.requested = 0  # agents started or replayed (the backstop counts these)
        self.spent_usd = 0.0
        self.spent_tokens = 0
        self.stop_reason: str | None = None
        self._tickets: dict[int, Ticket] = {}
        self._ids = itertools.count()
        self._observed: dict[str, _Observed] = {}
        self._settled: anyio.Event | None = None  # created on first wait: needs a running loop
        self._on_stop: list[Callable[[str], None]] = []

    # stopping -------------------------------------------------------------

    @property
    def stopped(self) -> bool:
        return self.stop_reason is not None

    def on_stop(self, callback: Callable[[str], None]) -> None:
        self._on_stop.append(callback)

    def stop(self, reason: str) -> None:
        if self.stop_reason is None:
            self.stop_reason = reason
            for callback in self._on_stop:
                callback(reason)
        self._wake()

    def check(self) -> None:
        if self.stop_reason is not None:
            raise RunStopped(self.stop_reason)

    # the backstop ---------------------------------------------------------

    def count_replayed(self) -> None:
        """Count an agent answered from the journal against the backstop (raises past it)."""
        self.check()
        if self.requested >= self.max_agents:
            self.stop("max_agents")
            self.check()
        self.requested += 1

    # slots ----------------------------------------------------------------

    async def acquire_slots(self, role: str, priority: Priority = PLAIN) -> None:
        """Role cap first, then the global cap: a call waiting on its role holds no global slot."""
        role_slots = self._role_slots.get(role)
        if role_slots is not None:
            await role_slots.acquire(priority)
        try:
            await self.slots.acquire(priority)
        except BaseException:
            if role_slots is not None:
                role_slots.release()
            raise

    def release_slots(self, role: str) -> None:
        self.slots.release()
        role_slots = self._role_slots.get(role)
        if role_slots is not None:
            role_slots.release()

    # the budget -----------------------------------------------------------

    def estimate(self, model: str, prompt_chars: int, max_tokens: int) -> tuple[float, int]:
        input_tokens = math.ceil(prompt_chars / 4)
        single_turn = Usage(input_tokens=input_tokens, output_tokens=max_tokens)
        usd, tokens = self.cost_of(model, single_turn), single_turn.total_tokens
        seen = self._observed.get(model)
        if seen is not None and seen.calls:
            floor = self.cost_of(model, Usage(input_tokens=input_tokens))
            usd = max(seen.max_usd, floor)
            tokens = max(seen.max_tokens, input_tokens)
        return usd, tokens

    def _fits(self, usd: float, tokens: int) -> bool:
        running_usd = sum(max(t.reserve_usd, t.live_usd) for t in self._tickets.values())
        running_tokens = sum(max(t.reserve_tokens, t.live_tokens) for t in self._tickets.values())
        if self.budget_usd is not None and self.spent_usd + running_usd + usd > self.budget_usd:
            return False
        if (
            self.budget_tokens is not None
            and self.spent_tokens + running_tokens + tokens > self.budget_tokens
        ):
            return False
        return True

    async def admit(self, model: str, prompt_chars: int, max_tokens: int) -> int:
        """Reserve budget for one agent; returns its ticket id. Raises RunStopped."""
        usd, tokens = self.estimate(model, prompt_chars, max_tokens)
        while True:
            self.check()
            if self.requested >= self.max_agents:
                self.stop("max_agents")
                self.check()
            if self._fits(usd, tokens):
                break
            if not self._tickets:
                self.stop("budget")
                self.check()
            if self._settled is None:
                self._settled = anyio.Event()
            await self._settled.wait()
        self.requested += 1
        ticket_id = next(self._ids)
        self._tickets[ticket_id] = Ticket(model, usd, tokens)
        return ticket_id

    def live(self, ticket_id: int, usage: Usage, usd: float) -> None:
        """Usage so far of a running agent (after each of its model requests)."""
        ticket = self._tickets.get(ticket_id)
        if ticket is not None:
            ticket.live_usd = usd
            ticket.live_tokens = usage.total_tokens

    def settle(self, ticket_id: int, usage: Usage, usd: float) -> None:
        ticket = self._tickets.pop(ticket_id, None)
        self.spent_usd += usd
        self.spent_tokens += usage.total_tokens
        if ticket is not None and usage.total_tokens:
            seen = self._observed.setdefault(ticket.model, _Observed())
            seen.calls += 1
            seen.max_usd = max(seen.max_usd, usd)
            seen.max_tokens = max(seen.max_tokens, usage.total_tokens)
        if self.budget_usd is not None and self.spent_usd >= self.budget_usd:
            self.stop("budget")
        if self.budget_tokens is not None and self.spent_tokens >= self.budget_tokens:
            self.stop("budget")
        self._wake()

    def _wake(self) -> None:
        if self._settled is not None:
            self._settled.set()
            self._settled = None

    @property
    def running(self) -> int:
        return len(self._tickets)
