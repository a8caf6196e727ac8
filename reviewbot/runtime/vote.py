"""Adversarial verification: independent skeptics, escalation to a judge on a split.

Each skeptic sees the claim and one angle of attack, never the other skeptics,
and is told to answer "refuted" unless it can confirm the claim. A unanimous
panel stands; a split goes to one judge (a stronger tier by default) who sees
the claim and every skeptic's reason and decides.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING

from reviewbot.errors import UsageError
from reviewbot.models import Tool, data_block
from reviewbot.runtime.api import ToolGrant
from reviewbot.runtime.errors import AgentError
from reviewbot.runtime.events import Escalation
from reviewbot.runtime.results import Verdict, Vote, VoteResult

if TYPE_CHECKING:
    from reviewbot.runtime.run import Run

SKEPTIC_TASK = (
    "Try to refute the claim given in the context, from this angle: {angle}\n"
    "Check it against the evidence you have. Answer 'confirmed' only if you verified that "
    "the claim holds; if it is wrong, unproven or you are unsure, answer 'refuted'. "
    "Give the evidence for your verdict as the reason."
)

JUDGE_TASK = (
    "Independent reviewers disagreed about the claim given in the context; their verdicts and "
    "reasons follow it. Weigh the evidence, not the number of votes, and decide. Answer "
    "'confirmed' only if the claim holds; when in doubt answer 'refuted'."
)


def _claim_block(claim: str) -> str:
    return data_block("claim", claim)


async def run_vote(
    run: Run,
    claim: str,
    *,
    angles: Sequence[str],
    context: Sequence[str] = (),
    tools: Sequence[Tool] | ToolGrant = (),
    role: str = "skeptic",
    judge_role: str = "judge",
    phase: str | None = None,
) -> VoteResult:
    """Independent skeptics, one per angle; a split goes to one judge (``Run.vote``)."""
    if not angles:
        raise UsageError("run.vote needs at least one angle")
    tools = run.granted(tools)
    models = run.config.models
    skeptic_model = models.model_for(models.tier_for(role))
    # The claim rides in the shared context so that sibling skeptics read it from cache.
    shared = (*context, _claim_block(claim))

    def skeptic(angle: str) -> Callable[[], Awaitable[Verdict]]:
        async def ask() -> Verdict:
            return await run.agent(
                SKEPTIC_TASK.format(angle=angle), schema=Verdict, role=role, tools=tools,
                phase=phase, context=shared,
            )

        return ask

    answers = await run.parallel([skeptic(angle) for angle in angles])
    votes = [
        Vote(angle=angle, verdict=a.verdict, reason=a.reason, model=skeptic_model)
        for angle, a in zip(angles, answers, strict=True)
        if a is not None
    ]
    if not votes:
        run.scheduler.check()  # stopped mid-vote: say so rather than blame the skeptics
        raise AgentError(f"every {role} failed on the claim; it stays unverified")
    verdicts = {v.verdict for v in votes}
    if len(verdicts) == 1:
        return VoteResult(verdict=votes[0].verdict, votes=votes)

    confirmed = sum(v.verdict == "confirmed" for v in votes)
    run.events.emit(
        Escalation(
            claim=claim[:200], confirmed=confirmed, refuted=len(votes) - confirmed, phase=phase
        )
    )
    panel = "\n".join(
        data_block(f"review {i + 1}: verdict {v.verdict}, angle {v.angle}", v.reason)
        for i, v in enumerate(votes)
    )
    ruling = await run.agent(
        JUDGE_TASK, schema=Verdict, role=judge_role, tools=tools, phase=phase,
        context=(*shared, panel),
    )
    judge_model = models.model_for(models.tier_for(judge_role))
    judge = Vote(angle="judge", verdict=ruling.verdict, reason=ruling.reason, model=judge_model)
    return VoteResult(verdict=judge.verdict, votes=votes, escalated=True, judge=judge)
