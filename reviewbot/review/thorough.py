"""Finder rounds: one by default; in thorough mode, rounds until two in a row find nothing new.

The loop is the runtime's ``run.until_dry``. A round's items are the dedup groups it
opened: the review's one :class:`DedupIndex` holds every finding seen so far, refuted ones
included, so a finder that keeps repeating a refuted finding adds nothing new and does
not keep the loop alive. Each round after the first is told what was already found (as
data), so the finders spend it on what they missed instead of rediscovering it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from reviewbot.models import data_block
from reviewbot.review.dedup import DedupIndex
from reviewbot.review.findings import Funnel, RoundFunnel, Status

DRY_ROUNDS = 2  # consecutive rounds with nothing new that end a thorough review
SEEN_LIMIT = 60  # findings listed to a later round; more would crowd out the code


class Rounds:
    """The state of the finder rounds of one review: which round runs, what it is told."""

    def __init__(self, index: DedupIndex, funnel: Funnel, *, thorough: bool,
                 max_rounds: int) -> None:
        self.index = index
        self.funnel = funnel
        self.thorough = thorough
        self.max_rounds = max_rounds if thorough else 1
        self.current = 0
        self._told = ""

    def told(self) -> str:
        """What the finders of the current round read after their task ("" in round one)."""
        return self._told

    async def run(self, run: Any, jobs: Sequence[Any],
                  find: Callable[[Any], Awaitable[list[int]]],
                  verify: Callable[[list[int]], Awaitable[Any]],
                  status: Callable[[int], Status | None]) -> None:
        """Run the rounds; each is a pipeline of the finders into verification (no barrier
        inside a round). ``status`` gives a group's verdict, for the per-round counts."""

        async def one_round(number: int) -> list[int]:
            self.current = number
            self._told = self._briefing(number) if self.thorough else ""
            before = self.funnel.model_copy()
            opened: list[int] = []

            async def find_and_keep(job: Any) -> list[int]:
                fresh = await find(job)
                opened.extend(fresh)
                return fresh

            await run.pipeline(jobs, find_and_keep, verify)
            verdicts = [status(gid) for gid in opened]
            self.funnel.rounds.append(RoundFunnel(
                round=number + 1,
                candidates=self.funnel.candidates - before.candidates,
                grounded=self.funnel.grounded - before.grounded,
                new=len(opened),
                confirmed=verdicts.count(Status.CONFIRMED),
                refuted=verdicts.count(Status.REFUTED),
            ))
            return opened

        await run.until_dry(one_round, key=lambda gid: gid, max_rounds=self.max_rounds,
                            dry_rounds=DRY_ROUNDS)

    def _briefing(self, number: int) -> str:
        head = (f"\n\nThis is finder round {number + 1} of at most {self.max_rounds}: the "
                "review stops when two rounds in a row find nothing new.")
        if not len(self.index):
            return head + " Earlier rounds found nothing; look again, more carefully."
        rows = []
        for gid in range(min(len(self.index), SEEN_LIMIT)):
            f = self.index.merged(gid)
            rows.append(f"- {f.path}:{f.start_line}-{f.end_line} [{f.category}] {f.title}")
        if len(self.index) > SEEN_LIMIT:
            rows.append(f"- (+{len(self.index) - SEEN_LIMIT} more)")
        return (head + " Earlier rounds already reported the findings below (some were "
                "refuted): do not report them again; report only problems not listed.\n\n"
                + data_block("already found", "\n".join(rows)))


def round_line(rounds: Sequence[RoundFunnel]) -> str:
    """``round 1: 4 candidates, 3 new (2 confirmed) · round 2: ...`` for the reports."""
    return " · ".join(
        f"round {r.round}: {r.candidates} candidates, {r.new} new "
        f"({r.confirmed} confirmed, {r.refuted} refuted)" for r in rounds)
