"""Score one pull request's review against its golden comments (`reviewbot eval`).

The review is the built-in review harness, run as a step on this run's repository (same
budget, journal and cost line). Then, as the public benchmark does, a judge on the deep
tier answers for every golden comment and every comment reviewbot would post whether
they are the same underlying issue; the scoring is the benchmark's. Without a model
service the review runs its deterministic tier only and nothing is judged.
"""

from __future__ import annotations

import json
from functools import partial

from reviewbot.config import Tier
from reviewbot.review import ReviewResult
from reviewbot.review.eval import (
    GoldenComment,
    JudgeVerdict,
    PRRun,
    candidates,
    judge_prompt,
    score,
    unjudged,
)
from reviewbot.runtime import AgentError, RunStopped
from reviewbot.runtime.api import HarnessRun

META = {
    "name": "eval",
    "description": "Review one pull request and score it against golden comments with a "
    "deep-tier judge, as the Martian code-review benchmark does.",
    "phases": ["review", "judge"],
    "parameters": {
        "base": {"type": "str", "default": ""},
        "head": {"type": "str", "default": ""},
        # The golden comments, a JSON list of {comment, severity}.
        "golden": {"type": "str", "default": "[]"},
        "thorough": {"type": "bool", "default": False},
    },
    "max_agents": 800,
}


async def main(run: HarnessRun, base: str = "", head: str = "", golden: str = "[]",
               thorough: bool = False) -> PRRun:
    expected = [GoldenComment.model_validate(c) for c in json.loads(golden)]
    with run.phase("review"):
        review = await run.workflow("review", base=base, head=head, uncommitted=False,
                                    mode="thorough" if thorough else "")
    result = ReviewResult.model_validate(review)
    found = candidates(result)
    notes = list(result.notes)
    if not run.models_available:
        why = "no judge model: the deterministic tier ran, nothing was matched"
        return PRRun(comments=found, score=unjudged(expected, found, why), notes=notes)

    pairs = [(g, c) for g in range(len(expected)) for c in range(len(found))]

    async def judge(pair: tuple[int, int]) -> JudgeVerdict | None:
        g, c = pair
        try:
            return await run.agent(
                judge_prompt(expected[g].comment, found[c].body), schema=JudgeVerdict,
                role="eval-judge", tier=Tier.DEEP, phase="judge",
            )
        except (AgentError, RunStopped):
            return None  # counted as the benchmark counts a judge error

    with run.phase("judge"):
        verdicts = await run.parallel([partial(judge, pair) for pair in pairs])
    judged = score(expected, found, dict(zip(pairs, verdicts, strict=True)))
    return PRRun(comments=found, score=judged, notes=notes)
