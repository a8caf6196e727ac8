"""Latency distributions for the loopback model server.

A distribution is a callable ``() -> seconds``. Draws come from one seeded
generator behind a lock, so a fixed seed gives the same sequence of latencies
(assigned to requests in the order they arrive).
"""

from __future__ import annotations

import math
import random
import threading
from dataclasses import dataclass, field


@dataclass
class Fixed:
    """Every request waits exactly ``seconds``."""

    seconds: float

    def __call__(self) -> float:
        return self.seconds


@dataclass
class Lognormal:
    """Lognormal latency: ``median * exp(sigma * Z)``, Z standard normal.

    ``sigma`` around 1 gives the heavy tail real model calls have (the mean is
    ``median * exp(sigma**2 / 2)``). ``cap`` bounds single draws, if given.
    """

    median: float
    sigma: float = 1.0
    seed: int = 0
    cap: float | None = None
    _rng: random.Random = field(init=False, repr=False)
    _lock: threading.Lock = field(init=False, repr=False, default_factory=threading.Lock)

    def __post_init__(self) -> None:
        if self.median <= 0 or self.sigma < 0:
            raise ValueError("Lognormal needs median > 0 and sigma >= 0")
        self._rng = random.Random(self.seed)

    @property
    def mean(self) -> float:
        return self.median * math.exp(self.sigma**2 / 2)

    def __call__(self) -> float:
        with self._lock:
            z = self._rng.gauss(0.0, 1.0)
        value = self.median * math.exp(self.sigma * z)
        return min(value, self.cap) if self.cap is not None else value

    def sample(self, n: int) -> list[float]:
        """The next ``n`` draws (for benchmarks computing bounds ahead of time)."""
        return [self() for _ in range(n)]
