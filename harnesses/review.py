"""Review a change: deterministic tier, then finders, grounding, dedup, votes, synthesis.

Pipeline, not barriers: each finder's grounded, new findings go to the vote as soon
as that finder answers, while slower finders still run. Dedup is online (a finding
that duplicates one already under verification only adds to its group), so the only
barrier is the synthesis at the end, which needs every verdict.
"""

from __future__ import annotations

from functools import partial
from typing import Annotated

import anyio

from reviewbot.config import DimensionConfig
from reviewbot.harness import Option
from reviewbot.review import (
    FINDER_SYSTEM,
    FinderReport,
    ReviewLedger,
    ReviewResult,
    Synthesis,
    angles,
    assign_symbols,
    changed_symbols_for,
    claim,
    deterministic_findings,
    finder_dimensions,
    finder_task,
    ground,
    grounding_scope,
    open_target,
    plan_review,
    review_tools,
    rules_for,
    select_dimensions,
    shard_context,
    skeptic_context,
    synthesis_prompt,
    without_ignored,
)
from reviewbot.review.reproduce import Reproducer
from reviewbot.review.thorough import Rounds
from reviewbot.runtime import AgentError, RunStopped
from reviewbot.runtime.api import HarnessRun

META = {
    "name": "review",
    "description": "Review a change: ruff and parse errors, then finders per dimension and "
    "shard, grounding, dedup, adversarial votes and a short synthesis.",
    "phases": ["deterministic", "context", "find", "verify", "synthesize"],
    "max_agents": 400,
}

MODEL_PHASES = ("find", "verify", "synthesize")


async def main(
    run: HarnessRun,
    repo: Annotated[str, "a path inside the repository",
                    Option(argument=True, metavar="PATH")] = ".",
    base: Annotated[str, "base to compare against (default: the merge-base with the default "
                    "branch)", Option(metavar="REF")] = "",
    head: Annotated[str, "head commit (default: HEAD plus uncommitted changes)",
                    Option(metavar="REF")] = "",
    uncommitted: Annotated[bool, "with no head given, include the uncommitted changes "
                           "(--no-uncommitted: review HEAD only)"] = True,
    dimensions: Annotated[str, "review dimensions to run, comma-separated (default: all "
                          "configured)", Option(metavar="A,B")] = "",
    description: Annotated[str, "PR title and body (or commit messages): untrusted, shown "
                           "to finders as data", Option(cli=False)] = "",
    rules_at: Annotated[str, "where the repository's review rules are read (REVIEW.md, "
                        "review keys): the pull request's base branch; empty: the review's "
                        "base", Option(cli=False)] = "",
    mode: Annotated[str, "finder rounds until two in a row find nothing new (default: "
                    "review.mode)", Option("--thorough", flag_value="thorough")] = "",
    reproduce: Annotated[str, "which correctness findings a test run at head may decide "
                         "(default: review.reproduce)",
                         Option(choices=("off", "high", "all"))] = "",
) -> ReviewResult:
    config = run.config
    target = await anyio.to_thread.run_sync(lambda: open_target(
        repo, base=base or None, head=head or None, uncommitted=uncommitted,
        max_file_bytes=config.review.max_file_bytes,
    ))
    rules = await anyio.to_thread.run_sync(lambda: rules_for(target, config.review, rules_at))
    target = without_ignored(target, rules.ignored)
    names = [d.strip() for d in dimensions.split(",") if d.strip()]
    dims = select_dimensions(config.review, names)
    ledger = ReviewLedger(target, rules)

    with run.phase("deterministic"):
        det = await anyio.to_thread.run_sync(lambda: deterministic_findings(
            target.base_view, target.head_view, target.changes.files, ruff=config.review.ruff,
            linters=config.review.linters))
    ledger.deterministic(det)

    if not target.reviewable:
        return ledger.nothing_to_review()
    if not run.models_available:
        for name in MODEL_PHASES:
            run.skip_phase(name)
        return ledger.without_models()

    with run.phase("context"):
        symbols = await anyio.to_thread.run_sync(
            lambda: changed_symbols_for(target.head_view, target.changes, target.base_view))
        by_path = {c.path: c for c in target.reviewable}
        assigned = assign_symbols(symbols, list(by_path))
        plan = await anyio.to_thread.run_sync(
            lambda: plan_review(target.reviewable, target.head_view, dims, config, assigned,
                                rules))
        contexts = [
            shard_context(
                [by_path[p] for p in shard.paths], target.head_view,
                [sym for p in shard.paths for sym in assigned[p]],
                base=target.base, head_ref=target.head, description=description,
                rules=rules.block(shard.paths),
            )
            for shard in plan.shards
        ]
    scope = grounding_scope(target.reviewable, contexts)
    tools = review_tools(target.head_view)
    finders = finder_dimensions(dims, plan.tiny)
    rounds = Rounds(ledger.index, ledger.funnel,
                    thorough=(mode or config.review.mode) == "thorough",
                    max_rounds=config.review.max_rounds)
    reproducer = Reproducer(run, target, config.review, ledger.funnel, level=reproduce)

    async def find(job: tuple[DimensionConfig, int]) -> list[int]:
        """One finder, then grounding and online dedup; returns the groups it opened."""
        dim, shard = job
        with ledger.finder(dim, shard):
            report = await run.agent(
                finder_task(dim) + rounds.told(), schema=FinderReport, role=dim.role, tools=tools,
                phase="find", context=[contexts[shard].text], system=FINDER_SYSTEM,
            )
        kept, rejected = ground(ledger.candidates(report, dim), target.head_view, scope)
        ledger.grounding(kept, rejected)
        return ledger.dedup(kept)

    async def verify(gid: int) -> None:
        f = ledger.finding(gid)
        # A test run at head, when it settles the finding, takes the place of the vote.
        settled, proof = await reproducer.verification(f)
        if settled is not None:
            ledger.settled(gid, settled)
            return
        try:
            outcome = await run.vote(
                claim(f), angles=angles(config.review.skeptics),
                context=[rules.block([f.path]), skeptic_context(target.head_view, f)],
                tools=tools, phase="verify",
            )
        except (AgentError, RunStopped):
            ledger.unverified(gid)
            return
        ledger.voted(gid, outcome, proof)

    async def verify_all(fresh: list[int]) -> bool:
        await run.parallel([partial(verify, gid) for gid in fresh])
        return True

    jobs = [(d, s.index) for s in plan.shards for d in finders]
    # No barrier: a finder's new findings are verified while slower finders still run.
    with run.phase("find"):
        async with reproducer:
            await rounds.run(run, jobs, find, verify_all, ledger.status)

    result = ledger.close(plan.shards, len(jobs))
    if ledger.none_reviewed:
        return result
    if not run.stopped:
        with run.phase("synthesize"):
            try:
                synthesis = await run.agent(
                    synthesis_prompt(target.stat(), result.findings), schema=Synthesis,
                    role="synthesizer", phase="synthesize",
                )
                ledger.summarize(synthesis.summary)
            except (AgentError, RunStopped):
                pass
    return ledger.finish(stopped=run.stopped, reason=run.stop_reason)
