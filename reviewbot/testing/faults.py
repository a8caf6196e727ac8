"""Random failure injection that needs no custom handler."""

from __future__ import annotations

import random
import threading
from dataclasses import dataclass, field

from reviewbot.testing.replies import Reply


@dataclass
class Faults:
    """Per-request probabilities of a failure instead of the handler's answer.

    Draws come from one seeded generator (in arrival order), so a fixed seed
    gives the same number of failures over the same number of requests. A
    faulted request never reaches the handler, as a refused request never
    reaches a model.
    """

    rate_429: float = 0.0
    rate_529: float = 0.0
    rate_500: float = 0.0
    rate_hang: float = 0.0
    rate_malformed: float = 0.0
    retry_after: float = 1.0  # seconds, sent with every 429
    hang_seconds: float = 3600.0
    seed: int = 0
    _rng: random.Random = field(init=False, repr=False)
    _lock: threading.Lock = field(init=False, repr=False, default_factory=threading.Lock)

    def __post_init__(self) -> None:
        rates = (self.rate_429, self.rate_529, self.rate_500, self.rate_hang, self.rate_malformed)
        if any(r < 0 for r in rates) or sum(rates) > 1:
            raise ValueError("fault rates must be >= 0 and sum to at most 1")
        self._rng = random.Random(self.seed)

    def draw(self) -> Reply | None:
        """The failure for the next request, or None to let the handler answer."""
        with self._lock:
            x = self._rng.random()
        for rate, reply in (
            (self.rate_429, lambda: Reply.rate_limited(self.retry_after)),
            (self.rate_529, Reply.overloaded),
            (self.rate_500, Reply.server_error),
            (self.rate_hang, lambda: Reply.hang(self.hang_seconds)),
            (self.rate_malformed, Reply.malformed),
        ):
            if x < rate:
                return reply()
            x -= rate
        return None
