"""Posting a review result on a pull request: one review, one summary, nothing twice.

What is posted is computed only from the validated :class:`ReviewResult` and our own earlier
comments (read for their hidden markers, and only when the bot wrote them; the state marker
only when its HMAC verifies under ``state_key``). Every text in the result is rendered inert
(:mod:`reviewbot.github.inert`) before it is posted. The review event
is always ``COMMENT``: the bot never approves and never blocks a merge through a review; a
failing verdict is the job's exit code and, if enabled, the check run.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import github3
from github3.exceptions import UnprocessableEntity
from pydantic import BaseModel

from reviewbot.config import GitHubConfig, Severity
from reviewbot.errors import GitHubError
from reviewbot.github.diffmap import DiffMap
from reviewbot.github.render import MAX_BODY, SummaryInput, inline_body, summary_body
from reviewbot.github.tracking import (
    SUMMARY_MARKER,
    Dismissal,
    Placement,
    Signal,
    TrackedFinding,
    TrackingState,
    code_is_gone,
    dismissed_by_people,
    fingerprints_in,
    reconcile,
    remembered_dismissals,
)
from reviewbot.review.findings import Finding, ReviewResult
from reviewbot.review.memory import Remembered

REVIEW_EVENT = "COMMENT"


class PublishOutcome(BaseModel):
    review_id: int | None = None
    summary_comment_id: int
    summary_created: bool
    inline: list[str] = []  # fingerprints posted as inline comments in this run
    outside_diff: list[str] = []
    over_limit: list[str] = []
    below_inline: list[str] = []  # under the repository's min_severity_inline: summary only
    repeated: list[str] = []  # found again, not reposted
    fixed: list[str] = []
    open_count: int = 0
    open_severities: list[Severity] = []  # of every open tracked finding, this push's and earlier
    dismissed: list[str] = []  # every finding dismissed on this pull request so far
    suppressed: list[str] = []  # new in this run, not posted: like a dismissed one
    to_remember: list[Remembered] = []  # dismissed by people: for the repository's memory
    notes: list[str] = []


def _ours(comment: Any, bot_login: str) -> bool:
    user = getattr(comment, "user", None)
    return getattr(user, "login", None) == bot_login


def _is_summary(comment: Any) -> bool:
    return (comment.body or "").startswith(SUMMARY_MARKER)


def state_context(pull: github3.pulls.PullRequest) -> str:
    """What a state marker is bound to: this pull request (a copy elsewhere does not verify)."""
    return f"pull/{int(pull.number)}"


def previous_state(
    pull: github3.pulls.PullRequest, bot_login: str, state_key: bytes
) -> TrackingState | None:
    """The tracking state in our summary comment, if we reviewed this pull request before and
    its marker verifies; None otherwise (the caller then starts from the current findings)."""
    for comment in pull.issue_comments():
        if _ours(comment, bot_login) and _is_summary(comment):
            return TrackingState.decode(comment.body or "", state_key, context=state_context(pull))
    return None


def _still_there(
    state: TrackingState | None, fp: str, read_head: Callable[[str], str | None] | None
) -> bool:
    tracked = state.findings.get(fp) if state is not None else None
    return tracked is not None and read_head is not None and not code_is_gone(tracked, read_head)


def _rank_key(f: Finding) -> tuple[int, str, int]:
    return (-f.severity.rank, f.path, f.start_line)


def review_comment(finding: Finding, diff: DiffMap, *, repo: str = "") -> dict[str, Any] | None:
    """The review-comment payload GitHub accepts for ``finding``; None when its lines are hidden."""
    if not finding.in_diff or not diff.commentable(
        finding.path, finding.start_line, finding.end_line
    ):
        return None
    comment: dict[str, Any] = {
        "path": finding.path,
        "line": finding.end_line,
        "side": "RIGHT",
        "body": inline_body(finding, repo=repo),
    }
    if finding.start_line != finding.end_line:
        comment["start_line"] = finding.start_line
        comment["start_side"] = "RIGHT"
    return comment


def publish_review(
    pull: github3.pulls.PullRequest,
    result: ReviewResult,
    *,
    config: GitHubConfig,
    read_head: Callable[[str], str | None] | None,
    state_key: bytes,
    repository: str = "",
    fail_on: Severity | None = None,
    cost_line: str | None = None,
    incremental_range: str | None = None,
    extra_notes: list[str] | None = None,
    resolve_threads: Callable[[list[str]], int] | None = None,
    feedback: Callable[[list[dict[str, Any]]], Mapping[str, Dismissal]] | None = None,
) -> PublishOutcome:
    """Post ``result`` on ``pull``: at most one review (new inline comments) and the summary.

    ``state_key`` signs and verifies the state marker (:func:`tracking.state_key`);
    ``repository`` ("owner/name") is where links in posted model text may point;
    ``feedback`` reads the dismissals on the threads of our comments (raw review comments in,
    :func:`feedback.collect_dismissals`).
    """
    bot = config.bot_login
    context = state_context(pull)
    own_comments = [c for c in pull.issue_comments() if _ours(c, bot)]
    summary = next((c for c in own_comments if _is_summary(c)), None)
    previous = (
        TrackingState.decode(summary.body or "", state_key, context=context)
        if summary is not None
        else None
    )
    posted: set[str] = set()
    review_comments = list(pull.review_comments())
    for rc in review_comments:
        if _ours(rc, bot):
            posted |= fingerprints_in(rc.body or "")
    dismissed = feedback([rc.as_dict() for rc in review_comments]) if feedback else {}
    # A resolved thread dismisses only while its code is still there (else: it was fixed).
    found = {f.fingerprint for f in result.findings}
    dismissed = {
        fp: d for fp, d in dismissed.items()
        if d.signal is not Signal.RESOLVED or fp in found or _still_there(previous, fp, read_head)
    }

    head = result.head
    rec = reconcile(previous, posted, [*result.findings, *result.dismissed], head=head,
                    read_head=read_head,
                    dismissed={**remembered_dismissals(result.dismissed), **dismissed})
    state = rec.state
    diff = DiffMap.from_patches((f.filename, getattr(f, "patch", None)) for f in pull.files())

    inline: list[tuple[Finding, dict[str, Any]]] = []
    outside: list[Finding] = []
    over: list[Finding] = []
    low: list[Finding] = []
    floor = result.min_severity_inline
    for finding in sorted(rec.new, key=_rank_key):
        if floor is not None and finding.severity.rank < floor.rank:
            low.append(finding)
            continue
        payload = review_comment(finding, diff, repo=repository)
        if payload is None:
            outside.append(finding)
        elif len(inline) < config.max_inline_comments:
            inline.append((finding, payload))
        else:
            over.append(finding)

    notes = list(extra_notes or [])
    if summary is not None and previous is None:
        notes.append(
            "The tracking state of the earlier summary could not be verified (another key, "
            "or not written by reviewbot): findings are listed from this run and earlier "
            "inline comments; none is taken as fixed."
        )
    review_id: int | None = None
    if inline:
        body = (
            f"reviewbot: {len(inline)} new finding{'s' if len(inline) != 1 else ''} on this push"
            + (
                f", {len(over) + len(outside) + len(low)} more in the summary comment."
                if over or outside or low
                else "."
            )
        )
        try:
            review = pull.create_review(
                body, commit_id=head, event=REVIEW_EVENT, comments=[p for _, p in inline]
            )
        except UnprocessableEntity:
            # The diff moved under us (a push during the run): keep the findings, summary only.
            notes.append(
                "GitHub refused the inline comments (the diff changed during the run); "
                "findings are listed here."
            )
            outside += [f for f, _ in inline]
            inline = []
        else:
            if review is None:
                raise GitHubError(
                    f"GitHub did not create the review on pull request #{pull.number}"
                )
            review_id = int(review.id)

    placed = (
        (Placement.INLINE, [f for f, _ in inline]),
        (Placement.OUTSIDE_DIFF, outside),
        (Placement.OVER_LIMIT, over),
        (Placement.BELOW_INLINE, low),
    )
    for placement, group in placed:
        for finding in group:
            state.findings[finding.fingerprint] = TrackedFinding.of(
                finding, head=head, placement=placement
            )
    if rec.fixed:
        fixed_inline = [fp for fp in rec.fixed if state.findings[fp].placement is Placement.INLINE]
        if resolve_threads is None:
            notes.append(
                "Fixed findings are marked here; their review threads stay open "
                "(the REST API cannot resolve review threads)."
            )
        elif fixed_inline:
            try:
                resolved = resolve_threads(fixed_inline)
            except GitHubError as exc:
                notes.append(f"Could not resolve the threads of fixed findings: {exc.message}")
            else:
                notes.append(f"Resolved {resolved} review thread(s) of fixed findings.")

    text = summary_body(
        SummaryInput(
            result=result,
            state=state,
            fixed_now=rec.fixed,
            fail_on=fail_on,
            cost_line=cost_line,
            incremental_range=incremental_range,
            notes=notes,
            repository=repository,
        ),
        state_key=state_key,
        context=context,
    )
    assert len(text) <= MAX_BODY + 10_000  # the state marker is the only part not clipped
    if summary is not None:
        if not summary.edit(text):
            raise GitHubError(
                f"GitHub refused to update the summary comment on pull request #{pull.number}"
            )
        summary_id, created = int(summary.id), False
    else:
        comment = pull.create_comment(text)
        if comment is None:
            raise GitHubError(f"GitHub refused the summary comment on pull request #{pull.number}")
        summary_id, created = int(comment.id), True

    return PublishOutcome(
        review_id=review_id,
        summary_comment_id=summary_id,
        summary_created=created,
        inline=[f.fingerprint for f, _ in inline],
        outside_diff=[f.fingerprint for f in outside],
        over_limit=[f.fingerprint for f in over],
        below_inline=[f.fingerprint for f in low],
        repeated=rec.repeated,
        fixed=rec.fixed,
        open_count=len(state.open_findings()),
        dismissed=[t.fingerprint for t in state.dismissed_findings()],
        suppressed=rec.suppressed,
        to_remember=dismissed_by_people(state, int(pull.number)),
        open_severities=[t.severity for t in state.open_findings()],
        notes=notes,
    )
