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

Budget policy (dollars and tokens): the budget is a ceiling. Before every model
turn (not every agent) the turn reserves its worst case: its input tokens (an
upper bound from the request's size, scaled up once a model has billed more than
that bound) at the dearest input-side price (any block under a cache breakpoint
may be billed as a cache write) plus its ``max_tokens`` output. After the turn
the reservation is settled to what the service billed. A turn may go only if
``spent + reservations of turns in flight + its own`` fits, so spent never
exceeds the budget, in dollars or in tokens.

A turn that does not fit waits while other turns are in flight (their real cost
usually frees room); waiting turns are served in order, an agent's later turns
before any agent's first, so started agents finish before new ones start. When
nothing is in flight and the full turn still does not fit, the turn is sent with
fewer output tokens if at least ``min_tokens`` fit; otherwise it is refused and
the run stops with reason ``budget``: an agent refused its first turn never
starts (``RunStopped``), one refused a later turn fails with a budget failure
(its finished turns are booked). What is left of the budget then is less than
one turn's worst case.

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
    """One running agent: the reservation of its turn in flight and what it has spent."""

    model: str
    reserve_usd: float = 0.0
    reserve_tokens: int = 0
    input_bound: int = 0  # the estimate behind the reservation
    turns: int = 0
    spent_usd: float = 0.0
    spent_tokens: int = 0


@dataclass(eq=False)
class _Waiter:
    model: str
    input_tokens: int
    max_tokens: int
    min_tokens: int
    first: bool
    ticket: int | None  # None for a first turn: the ticket is made on admission
    event: anyio.Event = field(default_factory=anyio.Event)
    granted: int | None = None  # output tokens granted
    refused: str | None = None  # "budget" / "max_agents" / a stop reason
    alive: bool = True


# Reservations keep this much (dollars) below the budget, so float rounding in
# summing costs can never carry spent over it.
_USD_MARGIN = 1e-9


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
        self._waiters: list[tuple[tuple[int, int], int, _Waiter]] = []
        self._seq = itertools.count()
        self._scale: dict[str, float] = {}  # model -> learned factor on our token bound
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
            self._pump()  # waiting first turns are refused now

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

    def worst_case(self, model: str, input_tokens: int, output_tokens: int) -> tuple[float, int]:
        """Dollars and tokens a turn can cost at most (input at the dearest input-side price)."""
        n = math.ceil(input_tokens * self._scale.get(model, 1.0))
        usd = max(
            self.cost_of(model, Usage(input_tokens=n, output_tokens=output_tokens)),
            self.cost_of(model, Usage(cache_creation_input_tokens=n, output_tokens=output_tokens)),
            self.cost_of(model, Usage(cache_read_input_tokens=n, output_tokens=output_tokens)),
        )
        return usd, n + output_tokens

    def _room(self) -> tuple[float, float]:
        """Dollars and tokens neither spent nor reserved (inf: no cap)."""
        reserved_usd = sum(t.reserve_usd for t in self._tickets.values())
        reserved_tokens = sum(t.reserve_tokens for t in self._tickets.values())
        usd = (
            self.budget_usd - _USD_MARGIN - self.spent_usd - reserved_usd
            if self.budget_usd is not None
            else math.inf
        )
        tokens = (
            self.budget_tokens - self.spent_tokens - reserved_tokens
            if self.budget_tokens is not None
            else math.inf
        )
        return usd, tokens

    def _in_flight(self) -> bool:
        return any(t.reserve_usd or t.reserve_tokens for t in self._tickets.values())

    def _fit(self, waiter: _Waiter, *, shrink: bool) -> int | None:
        """Output tokens this waiter's turn can have now: its max_tokens, or with
        ``shrink`` as many as fit down to its min_tokens; None when it does not fit."""
        room_usd, room_tokens = self._room()
        usd, tokens = self.worst_case(waiter.model, waiter.input_tokens, waiter.max_tokens)
        if usd <= room_usd and tokens <= room_tokens:
            return waiter.max_tokens
        if not shrink:
            return None
        lo, hi = waiter.min_tokens, waiter.max_tokens - 1  # largest output that fits
        best = None
        while lo <= hi:
            mid = (lo + hi) // 2
            usd, tokens = self.worst_case(waiter.model, waiter.input_tokens, mid)
            if usd <= room_usd and tokens <= room_tokens:
                best, lo = mid, mid + 1
            else:
                hi = mid - 1
        return best

    def _grant(self, waiter: _Waiter, output_tokens: int) -> None:
        if waiter.ticket is None:
            self.requested += 1
            waiter.ticket = next(self._ids)
            self._tickets[waiter.ticket] = Ticket(waiter.model)
        ticket = self._tickets[waiter.ticket]
        ticket.reserve_usd, ticket.reserve_tokens = self.worst_case(
            waiter.model, waiter.input_tokens, output_tokens
        )
        ticket.input_bound = waiter.input_tokens
        waiter.granted = output_tokens

    def _pump(self) -> None:
        """Serve waiting turns in order while they fit (see the module docstring)."""
        while self._waiters:
            _, _, waiter = self._waiters[0]
            if not waiter.alive:
                heapq.heappop(self._waiters)
                continue
            refused: str | None = None
            granted: int | None = None
            if waiter.first and self.stop_reason is not None:
                refused = self.stop_reason
            elif waiter.first and self.requested >= self.max_agents:
                self.stop("max_agents")  # re-enters _pump: this waiter is refused there
                return
            else:
                granted = self._fit(waiter, shrink=False)
                if granted is None and not self._in_flight():
                    granted = self._fit(waiter, shrink=True)
                    if granted is None:
                        refused = "budget"
            if granted is None and refused is None:
                return  # wait for a turn in flight to settle
            heapq.heappop(self._waiters)
            if granted is not None:
                self._grant(waiter, granted)
            else:
                waiter.refused = refused
            waiter.event.set()
            if refused == "budget" and self.stop_reason is None:
                self.stop("budget")  # serves the rest of the queue
                return

    async def _turn(self, waiter: _Waiter) -> _Waiter:
        # later turns of running agents before first turns; arrival order within each
        heapq.heappush(self._waiters, ((int(waiter.first), next(self._seq)), id(waiter), waiter))
        self._pump()
        try:
            await waiter.event.wait()
        except BaseException:
            waiter.alive = False
            if waiter.granted is not None and waiter.ticket is not None:
                self._unreserve(waiter.ticket)  # granted just as we were cancelled
                if waiter.first:
                    self.release(waiter.ticket)
            self._pump()
            raise
        return waiter

    async def admit(
        self, model: str, input_tokens: int, max_tokens: int, min_tokens: int | None = None
    ) -> tuple[int, int]:
        """Start one agent with its first turn reserved: (ticket id, output tokens granted).

        Raises RunStopped when the run is stopped or the turn cannot fit.
        """
        self.check()
        waiter = await self._turn(
            _Waiter(model, input_tokens, max_tokens, min_tokens or max_tokens, True, None)
        )
        if waiter.granted is None or waiter.ticket is None:
            raise RunStopped(waiter.refused or "budget")
        return waiter.ticket, waiter.granted

    async def next_turn(
        self, ticket_id: int, input_tokens: int, max_tokens: int, min_tokens: int | None = None
    ) -> int | None:
        """Reserve a running agent's next turn: the output tokens granted, or None when it
        cannot fit (the run then stops with reason ``budget``)."""
        ticket = self._tickets[ticket_id]
        waiter = await self._turn(
            _Waiter(
                ticket.model, input_tokens, max_tokens, min_tokens or max_tokens, False, ticket_id
            )
        )
        return waiter.granted

    def try_reserve(self, model: str, input_tokens: int, max_tokens: int) -> int | None:
        """Reserve one extra request (a hedge) now or never: a ticket id, or None when the run
        is stopped, a turn is waiting for room, or its worst case does not fit what is left.
        Settle it with ``book`` and ``release`` like any ticket."""
        if self.stop_reason is not None or any(w.alive for _, _, w in self._waiters):
            return None
        usd, tokens = self.worst_case(model, input_tokens, max_tokens)
        room_usd, room_tokens = self._room()
        if usd > room_usd or tokens > room_tokens:
            return None
        ticket_id = next(self._ids)
        self._tickets[ticket_id] = Ticket(model, reserve_usd=usd, reserve_tokens=tokens,
                                          input_bound=input_tokens)
        return ticket_id

    def book(self, ticket_id: int, usage: Usage, usd: float) -> None:
        """A finished turn: spend what it cost and drop its reservation."""
        self.spent_usd += usd
        self.spent_tokens += usage.total_tokens
        ticket = self._tickets.get(ticket_id)
        if ticket is not None:
            ticket.turns += 1
            ticket.spent_usd += usd
            ticket.spent_tokens += usage.total_tokens
            if ticket.input_bound and usage.prompt_tokens > ticket.input_bound:
                # the service counts this model's tokens denser than our bound: learn it
                ratio = usage.prompt_tokens / ticket.input_bound * 1.05
                self._scale[ticket.model] = max(self._scale.get(ticket.model, 1.0), ratio)
            self._unreserve(ticket_id)
        if self.budget_usd is not None and self.spent_usd >= self.budget_usd - _USD_MARGIN:
            self.stop("budget")
        if self.budget_tokens is not None and self.spent_tokens >= self.budget_tokens:
            self.stop("budget")
        self._pump()

    def _unreserve(self, ticket_id: int) -> None:
        ticket = self._tickets.get(ticket_id)
        if ticket is not None:
            ticket.reserve_usd, ticket.reserve_tokens = 0.0, 0

    def release(self, ticket_id: int) -> None:
        """The agent ended (any way): its turn in flight, if any, is no longer reserved."""
        self._tickets.pop(ticket_id, None)
        self._pump()

    @property
    def running(self) -> int:
        return len(self._tickets)
