"""Markdown for GitHub: inline review comments and the one summary comment per pull request.

GitHub refuses bodies over 65,536 characters; we stay well under it and cut the least
important parts first (explanations, then table rows), never the hidden markers.
"""

from __future__ import annotations

from collections.abc import Sequence

from pydantic import BaseModel

from reviewbot.config import Severity
from reviewbot.github.inert import code_span, fence_for, inert
from reviewbot.github.tracking import (
    SUMMARY_MARKER,
    Dismissal,
    Placement,
    Signal,
    TrackedFinding,
    TrackingState,
    TrackStatus,
    finding_marker,
)
from reviewbot.report.markdown import fenced
from reviewbot.review.evidence import reproducing_test
from reviewbot.review.findings import Finding, ReviewResult, Source

MAX_BODY = 60_000
MAX_EXPLANATION = 4_000
MAX_SUGGESTION = 20_000
_ICON = {
    Severity.CRITICAL: "🛑",
    Severity.HIGH: "🔴",
    Severity.MEDIUM: "🟠",
    Severity.LOW: "🟡",
    Severity.INFO: "🔵",
}


def _cell(text: str, limit: int = 120, repo: str = "") -> str:
    """Untrusted text, inert, on one line and safe inside one markdown table cell."""
    return inert(text, repo=repo, limit=limit, inline=True).replace("|", "\\|")


def _loc(path: str, line: int | str = "") -> str:
    """A path (chosen by whoever wrote the pull request) and line as one code span."""
    short = path if len(path) <= 80 else "…" + path[-79:]
    return code_span(f"{short}:{line}" if line != "" else short).replace("|", "\\|")


def inline_body(finding: Finding, *, repo: str = "") -> str:
    """One review comment: severity, category, title, why, and a suggestion block for a fix.

    Every text field may come from a model (or a forged result file): all of it goes through
    :func:`inert`; the suggestion stays code in a fence no backtick run inside can close.
    """
    head = f"{_ICON[finding.severity]} **{finding.severity.value}** · {_cell(finding.category, 60)}"
    if finding.rule and finding.source is not Source.MODEL:
        head += f" · {code_span(finding.rule[:80])}"
    parts = [head, f"**{inert(finding.title, repo=repo, limit=300, inline=True)}**"]
    if finding.explanation:
        parts.append(inert(finding.explanation.strip(), repo=repo, limit=MAX_EXPLANATION))
    if finding.rule and finding.source is Source.MODEL:
        # A repository rule the finding breaks, quoted from the rules read at the base.
        parts.append(f"Repository rule: {inert(finding.rule, repo=repo, limit=240, inline=True)}")
    if finding.replacement is not None and len(finding.replacement) <= MAX_SUGGESTION:
        fence = fence_for(finding.replacement)
        replacement = (
            finding.replacement
            if finding.replacement.endswith("\n") or not finding.replacement
            else finding.replacement + "\n"
        )
        parts.append(f"{fence}suggestion\n{replacement}{fence}")
    proof = reproducing_test(finding.verification)
    if proof is not None and len(proof.test) <= MAX_SUGGESTION:
        # Deterministic evidence: the test the runtime ran at head, offered to keep.
        parts.append(f"Reproduced by a test at head; suggested test {_loc(proof.test_path)}:")
        parts.append(fenced(proof.test, proof.test_path))
    parts.append(finding_marker(finding.fingerprint))
    return "\n\n".join(parts)


class SummaryInput(BaseModel):
    result: ReviewResult
    state: TrackingState
    fixed_now: list[str] = []
    fail_on: Severity | None = None
    cost_line: str | None = None
    incremental_range: str | None = None  # "abc1234..def5678" on a synchronize
    notes: list[str] = []  # from the GitHub side (e.g. what could not be posted)
    review_url: str | None = None
    repository: str = ""  # "owner/name": the only place links in model text may point


def verdict(open_findings: Sequence[TrackedFinding], fail_on: Severity | None) -> str:
    if not open_findings:
        return "✅ **No open findings.**"
    worst = max(open_findings, key=lambda t: t.severity.rank).severity
    n = len(open_findings)
    noun = "finding" if n == 1 else "findings"
    if fail_on is not None and worst.rank >= fail_on.rank:
        blocking = sum(1 for t in open_findings if t.severity.rank >= fail_on.rank)
        return f"❌ **{n} open {noun}**, {blocking} at or above `{fail_on.value}`."
    return f"⚠️ **{n} open {noun}** (worst: {worst.value})."


def _row(t: TrackedFinding, *, new: bool, repo: str) -> str:
    loc = _loc(t.path, t.start_line) + (f"–{t.end_line}" if t.end_line != t.start_line else "")
    where = {
        Placement.INLINE: "inline",
        Placement.OUTSIDE_DIFF: "outside the diff",
        Placement.OVER_LIMIT: "summary only (inline limit)",
        Placement.BELOW_INLINE: "summary only (below min_severity_inline)",
        Placement.NOT_POSTED: "not posted",
    }[t.placement]
    mark = "new" if new else "open"
    severity = f"{_ICON[t.severity]} {t.severity.value}"
    title = _cell(t.title, 120, repo)
    return f"| {severity} | {_cell(t.category, 30)} | {loc} | {title} | {where}, {mark} |"


def _dismissal(d: Dismissal | None, repo: str) -> str:
    if d is None:
        return "dismissed"
    if d.signal is Signal.MEMORY:
        return f"not posted, {_cell(d.reason, 240, repo)}"
    who = code_span(d.by[:60])
    reason = f": {_cell(d.reason, 200, repo)}" if d.reason else ""
    return {
        Signal.REACTION: f"👎 from {who}",
        Signal.REPLY: f"{who} replied{reason}",
        Signal.COMMAND: f"dismissed by {who}{reason}",
        Signal.SIMILAR: f"not posted, like a finding {who} dismissed{reason}",
        Signal.RESOLVED: f"{who} resolved the thread, the code unchanged",
    }[d.signal]


def summary_body(data: SummaryInput, *, state_key: bytes, context: str = "") -> str:
    """The summary comment, ending in the state marker signed with ``state_key``."""
    result, state, repo = data.result, data.state, data.repository
    open_ = sorted(state.open_findings(), key=lambda t: (-t.severity.rank, t.path, t.start_line))
    fixed = [state.findings[fp] for fp in data.fixed_now if fp in state.findings]
    new_fps = {f.fingerprint for f in result.findings}
    head = result.head[:7] if result.head and result.head != "WORKTREE" else result.head

    top = [SUMMARY_MARKER, "## reviewbot review", "", verdict(open_, data.fail_on)]
    scope = f"Reviewed `{head}`"
    if data.incremental_range:
        scope += f" (new commits only: `{data.incremental_range}`)"
    top.append(scope + ("; **partial run**, some work was skipped." if result.partial else "."))
    if result.rules:
        followed = ", ".join(_cell(name, 80, repo) for name in result.rules[:12])
        top.append(f"Repository rules followed (read at the base): {followed}.")
    if result.summary:
        top += ["", inert(result.summary.strip(), repo=repo, limit=2_000)]

    rows = [
        _row(t, new=t.fingerprint in new_fps and t.first_seen == state.head, repo=repo)
        for t in open_
    ]
    tail: list[str] = []
    if fixed:
        tail += ["", f"### Fixed since the last review ({len(fixed)})", ""]
        tail += [
            f"- ~~{_cell(t.title, 120, repo)}~~ {_loc(t.path, t.start_line)} ({t.severity.value})"
            for t in fixed
        ]
    earlier_fixed = [
        t
        for t in state.findings.values()
        if t.status is TrackStatus.FIXED and t.fingerprint not in data.fixed_now
    ]
    if earlier_fixed:
        tail += ["", f"<details><summary>Fixed earlier ({len(earlier_fixed)})</summary>", ""]
        tail += [f"- ~~{_cell(t.title, 120, repo)}~~ {_loc(t.path)}" for t in earlier_fixed[:100]]
        tail += ["", "</details>"]
    dismissed = state.dismissed_findings()
    if dismissed:
        tail += ["", f"### Dismissed ({len(dismissed)})", ""]
        tail += [
            f"- ~~{_cell(t.title, 120, repo)}~~ {_loc(t.path, t.start_line)} "
            f"({t.severity.value}): {_dismissal(t.dismissal, repo)}"
            for t in dismissed[:100]
        ]

    fn = result.funnel
    tail += [
        "",
        "<details><summary>Funnel and coverage</summary>",
        "",
        f"Funnel: {fn.candidates} candidates → {fn.grounded} grounded ({fn.ungrounded} dropped) → "
        f"{fn.deduplicated} distinct ({fn.duplicates} duplicates) → "
        f"{fn.confirmed} confirmed, {fn.refuted} refuted"
        + (f", {fn.escalated} escalated" if fn.escalated else "")
        + (f", {fn.unverified} unverified" if fn.unverified else "")
        + f"; {fn.deterministic} deterministic.",
        "",
        f"Files reviewed: {len(result.coverage.reviewed)}; "
        f"skipped: {len(result.coverage.skipped)}.",
    ]
    tail += [
        f"- skipped {_loc(s.path)}: {_cell(s.reason, 80, repo)}"
        for s in result.coverage.skipped[:50]
    ]
    if len(result.coverage.skipped) > 50:
        tail.append(f"- … and {len(result.coverage.skipped) - 50} more")
    tail += ["", "</details>"]
    notes = [*result.notes, *data.notes]
    if notes:
        tail += ["", *[f"> {_cell(n, 300, repo)}" for n in notes[:20]]]
    if data.cost_line:
        tail += ["", f"<sub>{_cell(data.cost_line, 300)}</sub>"]
    # The state marker is the body's last line, written here and nowhere else.
    tail += ["", state.encode(state_key, context=context)]

    table_head = [
        "",
        "| severity | category | location | finding | where |",
        "| --- | --- | --- | --- | --- |",
    ]
    budget = MAX_BODY - len("\n".join(top)) - len("\n".join(tail)) - 200
    kept: list[str] = []
    for row in rows:
        if budget - len(row) - 1 < 0:
            kept.append(
                f"| … | | | {len(rows) - len(kept)} more findings not shown "
                "(comment size limit) | |"
            )
            break
        kept.append(row)
        budget -= len(row) + 1
    body = top + ((table_head + kept) if rows else []) + tail
    return "\n".join(body)
