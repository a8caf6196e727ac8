"""The bookkeeping of one review: what each step found, counted into the funnel and sorted.

A review harness states its steps (the deterministic tier, finders, grounding, dedup,
verification, synthesis); the :class:`ReviewLedger` records what each one gave and, at
the end, fills the :class:`ReviewResult`: the funnel, the confirmed/refuted/unverified
buckets, the notes naming what went unreviewed and the plain summary. It runs no agent
and reads no file, so it is the same whichever way the steps were run.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence

from reviewbot.config import DimensionConfig
from reviewbot.errors import ReviewbotError
from reviewbot.review.change import ReviewTarget
from reviewbot.review.dedup import DedupIndex
from reviewbot.review.deterministic import DeterministicResult
from reviewbot.review.evidence import Reproduction
from reviewbot.review.findings import (
    Finding,
    ReviewResult,
    SkippedFile,
    Status,
    Verification,
    Vote,
)
from reviewbot.review.grounding import Rejection
from reviewbot.review.plan import Shard
from reviewbot.review.prompts import CandidateFinding, FinderReport
from reviewbot.review.rules import ReviewRules, apply_guidance
from reviewbot.runtime.errors import RunStopped
from reviewbot.runtime.results import VoteResult

NO_MODELS_NOTE = (
    "model phases skipped (find, verify, synthesize): no model service configured; "
    "set ANTHROPIC_API_KEY (or ANTHROPIC_BASE_URL for a compatible server) to enable them"
)
NOTHING_TO_REVIEW = "No reviewable changes between the base and the head."


class ReviewLedger:
    """One review's result in the making: every finder's answer, grounding, dedup, verdict.

    Dedup is online (:class:`DedupIndex`): a finding opens a group, or joins the group of
    the issue it repeats, and only new groups go to verification. ``index`` and ``funnel``
    are shared with the finder rounds and the reproducer, which count into the same funnel.
    """

    def __init__(self, target: ReviewTarget, rules: ReviewRules) -> None:
        self.target = target
        self.rules = rules
        self.result = ReviewResult(
            base=target.base, head=target.head, coverage=target.coverage(),
            rules=[s.name for s in rules.sources],
            min_severity_inline=rules.min_severity_inline, notes=list(rules.notes),
        )
        self.funnel = self.result.funnel
        self.index = DedupIndex()
        self.verdicts: dict[int, Verification] = {}
        self.finished = 0  # finders that answered
        # (dimension, shard) -> why that finder did not answer: its error, or the run's stop
        self.unfinished: dict[tuple[str, int], str] = {}
        self._jobs = 0

    # The deterministic tier and the reviews that end there.

    def deterministic(self, det: DeterministicResult) -> None:
        """Ruff and parser findings: reported without a vote."""
        self.result.findings.extend(det.findings)
        self.funnel.deterministic = len(det.findings)
        self.result.notes.extend(det.notes)

    def nothing_to_review(self) -> ReviewResult:
        self.result.summary = NOTHING_TO_REVIEW
        return self.result

    def without_models(self) -> ReviewResult:
        """No model service: the deterministic tier is the review, and the notes say why."""
        self.result.notes.append(NO_MODELS_NOTE)
        return self._reported()

    # Finders, grounding, dedup.

    @contextlib.contextmanager
    def finder(self, dim: DimensionConfig, shard: int) -> Iterator[None]:
        """Around one finder's agent call: counts it finished, or records why it did not."""
        try:
            yield
        except ReviewbotError as exc:
            why = (f"stopped ({exc.reason})" if isinstance(exc, RunStopped)
                   else exc.message.removeprefix(f"{dim.role} agent failed: ").rstrip("."))
            self.unfinished[(dim.name, shard)] = why
            raise
        self.finished += 1

    def candidates(self, report: FinderReport, dim: DimensionConfig) -> list[Finding]:
        """A finder's answer as findings; one whose lines cannot exist counts as ungrounded."""
        self.funnel.candidates += len(report.findings)
        found = [to_finding(c, dim, self.rules) for c in report.findings]
        self.funnel.ungrounded += found.count(None)
        return [f for f in found if f is not None]

    def grounding(self, kept: Sequence[Finding], rejected: Sequence[Rejection]) -> None:
        self.funnel.ungrounded += len(rejected)
        self.funnel.grounded += len(kept)

    def dedup(self, kept: Sequence[Finding]) -> list[int]:
        """Add grounded findings to the dedup index; returns the groups they opened."""
        fresh = []
        for f in kept:
            gid, new = self.index.add(f)
            if new:
                fresh.append(gid)
        return fresh

    # Verification.

    def finding(self, gid: int) -> Finding:
        """The group's finding as verification sees it (its strongest evidence)."""
        return self.index.merged(gid)

    def settled(self, gid: int, verification: Verification) -> None:
        """A verdict reached without a vote (a test run at head decided it)."""
        self.verdicts[gid] = verification

    def voted(self, gid: int, outcome: VoteResult, proof: Reproduction | None = None) -> None:
        self.verdicts[gid] = Verification(
            status=Status.CONFIRMED if outcome.verdict == "confirmed" else Status.REFUTED,
            votes=[Vote(verdict=v.verdict, reason=v.reason, angle=v.angle, model=v.model)
                   for v in outcome.votes],
            escalated=outcome.escalated,
            judge=(Vote(verdict=outcome.judge.verdict, reason=outcome.judge.reason,
                        angle="judge", model=outcome.judge.model) if outcome.judge else None),
            reproduction=proof,
        )

    def unverified(self, gid: int) -> None:
        """The vote failed: the finding is not reported."""
        self.verdicts[gid] = Verification(status=Status.UNVERIFIED)

    def status(self, gid: int) -> Status | None:
        """The group's verdict so far (None: not yet decided)."""
        return self.verdicts[gid].status if gid in self.verdicts else None

    # The end.

    def close(self, shards: Sequence[Shard], jobs: int) -> ReviewResult:
        """After the finders and votes: the funnel, the buckets, the plain summary, and the
        notes (or the "NOT REVIEWED" summary) for the ``jobs`` finders that did not answer."""
        self._jobs = jobs
        self.funnel.duplicates = self.index.duplicates
        self.funnel.deduplicated = len(self.index)
        for gid in range(len(self.index)):
            verification = self.verdicts.get(gid, Verification(status=Status.UNVERIFIED))
            f = self.index.merged(gid).model_copy(update={"verification": verification})
            if verification.escalated:
                self.funnel.escalated += 1
            if verification.status is Status.CONFIRMED:
                self.funnel.confirmed += 1
                self.result.findings.append(f)
            elif verification.status is Status.REFUTED:
                self.funnel.refuted += 1
                self.result.refuted.append(f)
            else:
                self.funnel.unverified += 1
                self.result.unverified.append(f)
        self._reported()
        if self.none_reviewed:
            self._none_reviewed(shards)
        elif self.unfinished:
            self._unreviewed(shards)
        return self.result

    @property
    def none_reviewed(self) -> bool:
        """Finders were planned and not one answered: the model review did not happen."""
        return bool(self._jobs) and self.finished == 0

    def summarize(self, summary: str) -> None:
        """The synthesizer's summary, in place of the plain one (unless it is empty)."""
        self.result.summary = summary.strip() or self.result.summary

    def finish(self, *, stopped: bool, reason: str | None) -> ReviewResult:
        """A run that stopped early gives a partial review, and the notes say so."""
        self.result.partial = stopped
        if stopped:
            self.result.notes.append(
                f"partial review: the run stopped ({reason}); "
                f"{self.funnel.unverified} findings were not verified and are not reported"
            )
        return self.result

    def _reported(self) -> ReviewResult:
        apply_guidance(self.result, self.rules)
        self.result.summary = plain_summary(self.target.stat(), self.result.findings)
        return self.result

    def _none_reviewed(self, shards: Sequence[Shard]) -> None:
        """No finder answered: the summary says the models did not review the change."""
        result = self.result
        stopped = all(why.startswith("stopped") for why in self.unfinished.values())
        if stopped:
            what = "the run stopped before any finder ran"
        else:
            what = "the finder failed" if self._jobs == 1 else f"all {self._jobs} finders failed"
        tiers = (f"{len(result.findings)} findings from ruff/parsers" if result.findings
                 else "no findings from ruff/parsers")
        result.summary = (f"{changed_files(self.target.stat())} files changed; NOT REVIEWED by "
                          f"the models: {what} ({self._reasons()}). Only the deterministic "
                          f"tier ran: {tiers}.")
        reviewed = set(result.coverage.reviewed)
        for shard in shards:
            for path in shard.paths:
                if path in reviewed:
                    result.coverage.reviewed.remove(path)
                    reviewed.discard(path)
                    result.coverage.skipped.append(SkippedFile(
                        path=path, reason=f"not reviewed by the models ({what})"))
        result.partial = result.partial or stopped

    def _unreviewed(self, shards: Sequence[Shard]) -> None:
        """Some finders did not answer: name the files and dimensions they left unreviewed."""
        notes = self.result.notes
        notes.append(f"{len(self.unfinished)} of {self._jobs} finders did not finish; "
                     "these files were not reviewed for these dimensions:")
        for (name, shard), why in self.unfinished.items():
            paths = shards[shard].paths
            shown = ", ".join(paths[:6]) + (f", +{len(paths) - 6} more" if len(paths) > 6 else "")
            notes.append(f"  not reviewed for {name}: {shown} ({why})")

    def _reasons(self) -> str:
        reasons = list(dict.fromkeys(self.unfinished.values()))
        return "; ".join(reasons[:2]) + (f"; +{len(reasons) - 2} more" if len(reasons) > 2 else "")


def to_finding(c: CandidateFinding, dim: DimensionConfig, rules: ReviewRules) -> Finding | None:
    """A finder's candidate as a finding of its dimension (None: its lines cannot exist)."""
    if c.start_line < 1 or c.end_line < c.start_line:
        return None
    return Finding(
        path=c.path, start_line=c.start_line, end_line=c.end_line, severity=c.severity,
        category=(c.category or dim.name).strip().lower(), title=c.title.strip(),
        explanation=c.explanation, evidence=c.evidence, replacement=c.replacement,
        rule=rules.cite(c.rule, c.path),
    )


def changed_files(stat: str) -> int:
    return len([row for row in stat.splitlines() if row and not row.startswith("(")])


def plain_summary(stat: str, findings: list[Finding]) -> str:
    """The summary without a model: how many files, how many findings, the most severe."""
    files = changed_files(stat)
    if not findings:
        return f"{files} files changed; no findings."
    worst = max(f.severity.rank for f in findings)
    top = [f for f in findings if f.severity.rank == worst]
    return (f"{files} files changed; {len(findings)} findings, the most severe "
            f"({top[0].severity.value}): {top[0].title} at {top[0].path}:{top[0].start_line}.")
