"""Review a change: deterministic tier, then finders, grounding, dedup, votes, synthesis.

Pipeline, not barriers: each finder's grounded, new findings go to the vote as soon
as that finder answers, while slower finders still run. Dedup is online (a finding
that duplicates one already under verification only adds to its group), so the only
barrier is the synthesis at the end, which needs every verdict.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import anyio

from reviewbot.config import DimensionConfig
from reviewbot.errors import ReviewbotError
from reviewbot.runtime.api import HarnessRun
from reviewbot.review import (
    FINDER_SYSTEM,
    DedupIndex,
    FinderReport,
    Finding,
    ReviewResult,
    ReviewRules,
    SkippedFile,
    Status,
    Synthesis,
    Verification,
    Vote,
    angles,
    apply_guidance,
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

META = {
    "name": "review",
    "description": "Review a change: ruff and parse errors, then finders per dimension and "
    "shard, grounding, dedup, adversarial votes and a short synthesis.",
    "phases": ["deterministic", "context", "find", "verify", "synthesize"],
    "parameters": {
        "repo": {"type": "str", "default": "."},
        "base": {"type": "str", "default": ""},
        "head": {"type": "str", "default": ""},
        "uncommitted": {"type": "bool", "default": True},
        "dimensions": {"type": "str", "default": ""},
        # PR title and body (or commit messages): untrusted, shown to finders as data.
        "description": {"type": "str", "default": ""},
        # Where the repository's review rules are read (REVIEW.md, review keys): the pull
        # request's base branch; empty: the review's base.
        "rules_at": {"type": "str", "default": ""},
        # "thorough": finder rounds until dry (empty: review.mode).
        "mode": {"type": "str", "default": ""},
        # Which correctness findings a test run at head may decide: off, high, all (empty:
        # review.reproduce).
        "reproduce": {"type": "str", "default": ""},
    },
    "max_agents": 400,
}

MODEL_PHASES = ("find", "verify", "synthesize")
NO_MODELS_NOTE = (
    "model phases skipped (find, verify, synthesize): no model service configured; "
    "set ANTHROPIC_API_KEY (or ANTHROPIC_BASE_URL for a compatible server) to enable them"
)


async def main(
    run: HarnessRun,
    repo: str = ".",
    base: str = "",
    head: str = "",
    uncommitted: bool = True,
    dimensions: str = "",
    description: str = "",
    rules_at: str = "",
    mode: str = "",
    reproduce: str = "",
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
    result = ReviewResult(base=target.base, head=target.head, coverage=target.coverage(),
                          rules=[s.name for s in rules.sources],
                          min_severity_inline=rules.min_severity_inline, notes=list(rules.notes))

    with run.phase("deterministic"):
        det = await anyio.to_thread.run_sync(lambda: deterministic_findings(
            target.base_view, target.head_view, target.changes.files, ruff=config.review.ruff,
            linters=config.review.linters))
    result.findings.extend(det.findings)
    result.funnel.deterministic = len(det.findings)
    result.notes.extend(det.notes)

    if not target.reviewable:
        result.summary = "No reviewable changes between the base and the head."
        return result
    if not run.models_available:
        for name in MODEL_PHASES:
            run.skip_phase(name)
        result.notes.append(NO_MODELS_NOTE)
        apply_guidance(result, rules)
        result.summary = _plain_summary(target.stat(), result.findings)
        return result

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
    index = DedupIndex()
    funnel = result.funnel
    rounds = Rounds(index, funnel, thorough=(mode or config.review.mode) == "thorough",
                    max_rounds=config.review.max_rounds)
    reproducer = Reproducer(run, target, config.review, funnel, level=reproduce)
    verdicts: dict[int, Verification] = {}
    finished_finders = 0
    # (dimension, shard) -> why that finder did not answer: its error, or the run's stop
    unfinished: dict[tuple[str, int], str] = {}

    async def find(job: tuple[DimensionConfig, int]) -> list[int]:
        """One finder, then grounding and online dedup; returns the groups it opened."""
        nonlocal finished_finders
        dim, shard = job
        try:
            report = await run.agent(
                finder_task(dim) + rounds.told(), schema=FinderReport, role=dim.role, tools=tools,
                phase="find", context=[contexts[shard].text], system=FINDER_SYSTEM,
            )
        except ReviewbotError as exc:
            from reviewbot.runtime import RunStopped

            why = (f"stopped ({exc.reason})" if isinstance(exc, RunStopped)
                   else exc.message.removeprefix(f"{dim.role} agent failed: ").rstrip("."))
            unfinished[(dim.name, shard)] = why
            raise
        finished_finders += 1
        candidates = [_to_finding(c, dim, rules) for c in report.findings]
        funnel.candidates += len(candidates)
        kept, rejected = ground([c for c in candidates if c is not None], target.head_view, scope)
        funnel.ungrounded += len(rejected) + candidates.count(None)
        funnel.grounded += len(kept)
        fresh = []
        for f in kept:
            gid, new = index.add(f)
            if new:
                fresh.append(gid)
        return fresh

    async def verify(gid: int) -> None:
        f = index.merged(gid)
        # A test run at head, when it settles the finding, takes the place of the vote.
        settled, proof = await reproducer.verification(f)
        if settled is not None:
            verdicts[gid] = settled
            return
        try:
            outcome = await run.vote(
                claim(f), angles=angles(config.review.skeptics),
                context=[rules.block([f.path]), skeptic_context(target.head_view, f)],
                tools=tools, phase="verify",
            )
        except ReviewbotError as exc:
            if _run_fatal(exc):
                raise
            verdicts[gid] = Verification(status=Status.UNVERIFIED)
            return
        verdicts[gid] = Verification(
            status=Status.CONFIRMED if outcome.verdict == "confirmed" else Status.REFUTED,
            votes=[Vote(verdict=v.verdict, reason=v.reason, angle=v.angle, model=v.model)
                   for v in outcome.votes],
            escalated=outcome.escalated,
            judge=(Vote(verdict=outcome.judge.verdict, reason=outcome.judge.reason,
                        angle="judge", model=outcome.judge.model) if outcome.judge else None),
            reproduction=proof,
        )

    async def verify_all(fresh: list[int]) -> bool:
        await run.parallel([_bind(verify, gid) for gid in fresh])
        return True

    jobs = [(d, s.index) for s in plan.shards for d in finders]
    # No barrier: a finder's new findings are verified while slower finders still run.
    with run.phase("find"):
        async with reproducer:
            await rounds.run(run, jobs, find, verify_all,
                             lambda gid: verdicts[gid].status if gid in verdicts else None)

    funnel.duplicates = index.duplicates
    funnel.deduplicated = len(index)
    for gid in range(len(index)):
        f = index.merged(gid)
        verification = verdicts.get(gid, Verification(status=Status.UNVERIFIED))
        f = f.model_copy(update={"verification": verification})
        if verification.escalated:
            funnel.escalated += 1
        if verification.status is Status.CONFIRMED:
            funnel.confirmed += 1
            result.findings.append(f)
        elif verification.status is Status.REFUTED:
            funnel.refuted += 1
            result.refuted.append(f)
        else:
            funnel.unverified += 1
            result.unverified.append(f)
    apply_guidance(result, rules)
    result.summary = _plain_summary(target.stat(), result.findings)
    if jobs and finished_finders == 0:
        _none_reviewed(result, plan.shards, unfinished, len(jobs), target.stat())
        return result
    if unfinished:
        _unreviewed(result, plan.shards, unfinished, len(jobs))
    if not run.stopped:
        with run.phase("synthesize"):
            try:
                synthesis = await run.agent(
                    synthesis_prompt(target.stat(), result.findings), schema=Synthesis,
                    role="synthesizer", phase="synthesize",
                )
                result.summary = synthesis.summary.strip() or result.summary
            except ReviewbotError as exc:
                if _run_fatal(exc):
                    raise
    result.partial = bool(run.stopped)
    if result.partial:
        result.notes.append(
            f"partial review: the run stopped ({run.stop_reason}); "
            f"{funnel.unverified} findings were not verified and are not reported"
        )
    return result


def _first_reason(unfinished: dict[tuple[str, int], str]) -> str:
    reasons = list(dict.fromkeys(unfinished.values()))
    return "; ".join(reasons[:2]) + (f"; +{len(reasons) - 2} more" if len(reasons) > 2 else "")


def _none_reviewed(result: ReviewResult, shards: Any, unfinished: dict[tuple[str, int], str],
                   jobs: int, stat: str) -> None:
    """No finder answered: the model review did not happen, and the report says so."""
    files = len([row for row in stat.splitlines() if row and not row.startswith("(")])
    stopped = all(why.startswith("stopped") for why in unfinished.values())
    if stopped:
        what = "the run stopped before any finder ran"
    else:
        what = "the finder failed" if jobs == 1 else f"all {jobs} finders failed"
    tiers = (f"{len(result.findings)} findings from ruff/parsers" if result.findings
             else "no findings from ruff/parsers")
    result.summary = (f"{files} files changed; NOT REVIEWED by the models: {what} "
                      f"({_first_reason(unfinished)}). Only the deterministic tier ran: {tiers}.")
    reviewed = set(result.coverage.reviewed)
    for shard in shards:
        for path in shard.paths:
            if path in reviewed:
                result.coverage.reviewed.remove(path)
                reviewed.discard(path)
                result.coverage.skipped.append(SkippedFile(
                    path=path, reason=f"not reviewed by the models ({what})"))
    result.partial = result.partial or stopped


def _unreviewed(result: ReviewResult, shards: Any, unfinished: dict[tuple[str, int], str],
                jobs: int) -> None:
    """Some finders did not answer: name the files and dimensions they left unreviewed."""
    result.notes.append(f"{len(unfinished)} of {jobs} finders did not finish; "
                        "these files were not reviewed for these dimensions:")
    for (name, shard), why in unfinished.items():
        paths = shards[shard].paths
        shown = ", ".join(paths[:6]) + (f", +{len(paths) - 6} more" if len(paths) > 6 else "")
        result.notes.append(f"  not reviewed for {name}: {shown} ({why})")


def _bind(fn: Callable[[Any], Awaitable[Any]], item: Any) -> Callable[[], Awaitable[Any]]:
    async def call() -> Any:
        return await fn(item)

    return call


def _run_fatal(exc: ReviewbotError) -> bool:
    """Agent-level failures and a stopped run end one branch; anything else ends the run."""
    from reviewbot.runtime import AgentError, RunStopped

    return not isinstance(exc, AgentError | RunStopped)


def _to_finding(c: Any, dim: DimensionConfig, rules: ReviewRules) -> Finding | None:
    if c.start_line < 1 or c.end_line < c.start_line:
        return None
    return Finding(
        path=c.path, start_line=c.start_line, end_line=c.end_line, severity=c.severity,
        category=(c.category or dim.name).strip().lower(), title=c.title.strip(),
        explanation=c.explanation, evidence=c.evidence, replacement=c.replacement,
        rule=rules.cite(getattr(c, "rule", None), c.path),
    )


def _plain_summary(stat: str, findings: list[Finding]) -> str:
    files = len([row for row in stat.splitlines() if row and not row.startswith("(")])
    if not findings:
        return f"{files} files changed; no findings."
    worst = max(f.severity.rank for f in findings)
    top = [f for f in findings if f.severity.rank == worst]
    return (f"{files} files changed; {len(findings)} findings, the most severe "
            f"({top[0].severity.value}): {top[0].title} at {top[0].path}:{top[0].start_line}.")
