"""Hedged requests for the tail of a fan-out (``runtime.hedge``, off by default).

A scheduler that cannot see latencies in advance cannot avoid a 20-30 s call that
happens to start late (``bench/runtime.py`` shows the floor it leaves, ~18% over the
lower bound at sigma 1). Sending one duplicate of a request that runs past the
quantile of its siblings' latencies is the known way past that floor: the first
answer wins and the other is cancelled. The duplicate is reserved against the
budget before it is sent (no room: no hedge), and the loser is booked at its
input's worst case, since the service may bill a request it had started.
"""

from __future__ import annotations

import math
from collections import defaultdict, deque
from collections.abc import Callable
from dataclasses import dataclass

from reviewbot.models.usage import Usage
from reviewbot.runtime.scheduler import Scheduler

# Latency samples kept per (model, role): enough for a stable 95th percentile.
KEEP = 400


class Latencies:
    """Finished requests' latencies by (model, role), and the hedge delay they give."""

    def __init__(self, quantile: float, min_samples: int) -> None:
        self.quantile = quantile
        self.min_samples = min_samples
        self._by: defaultdict[tuple[str, str], deque[float]] = defaultdict(
            lambda: deque(maxlen=KEEP)
        )

    def delay(self, key: tuple[str, str]) -> float | None:
        samples = self._by.get(key)
        if samples is None or len(samples) < self.min_samples:
            return None
        ordered = sorted(samples)
        return ordered[min(len(ordered) - 1, math.ceil(self.quantile * len(ordered)) - 1)]

    def record(self, key: tuple[str, str], seconds: float) -> None:
        self._by[key].append(seconds)


@dataclass
class AgentHedge:
    """The hedge of one agent's requests (``reviewbot.models.request.Hedge``)."""

    latencies: Latencies
    key: tuple[str, str]  # (model, role)
    scheduler: Scheduler
    cost_of: Callable[[str, Usage], float]
    on_spent: Callable[[Usage], None]  # the loser's booked usage, counted as the agent's

    def delay(self) -> float | None:
        return self.latencies.delay(self.key)

    def record(self, seconds: float) -> None:
        self.latencies.record(self.key, seconds)

    def reserve(self, input_tokens: int, max_tokens: int) -> int | None:
        return self.scheduler.try_reserve(self.key[0], input_tokens, max_tokens)

    def settle(self, reservation: int, input_tokens: int) -> None:
        usage = Usage(input_tokens=input_tokens)
        self.scheduler.book(reservation, usage, self.cost_of(self.key[0], usage))
        self.scheduler.release(reservation)
        self.on_spent(usage)
