"""Tracking state and rendering limits, without a server."""

from __future__ import annotations

from reviewbot.config import Severity
from reviewbot.github.diffmap import DiffMap
from reviewbot.github.render import MAX_BODY, SummaryInput, inline_body, summary_body
from reviewbot.github.tracking import TrackingState, reconcile, state_key
from reviewbot.review.findings import Finding, ReviewResult

KEY = state_key("test secret")


def _f(i: int, evidence: str = "") -> Finding:
    return Finding(
        path=f"pkg/m{i % 7}.py",
        start_line=i + 1,
        end_line=i + 1,
        severity=Severity.MEDIUM,
        category="correctness",
        title=f"problem number {i} | with pipes",
        evidence=evidence or f"x{i} = {i}",
        explanation="why " * 3000,
    )


def test_huge_results_stay_under_githubs_comment_limit() -> None:
    findings = [_f(i, evidence=f"value_{i} = compute({i}) " * 30) for i in range(1500)]
    rec = reconcile(None, [], findings, head="h" * 40, read_head=None)
    from reviewbot.github.tracking import Placement, TrackedFinding

    for f in findings:
        rec.state.findings[f.fingerprint] = TrackedFinding.of(
            f, head="h" * 40, placement=Placement.OVER_LIMIT
        )
    result = ReviewResult(base="b" * 40, head="h" * 40, findings=findings)
    body = summary_body(SummaryInput(result=result, state=rec.state), state_key=KEY)
    assert len(body) <= 65_536
    assert "more findings not shown" in body
    decoded = TrackingState.decode(body, KEY)
    assert decoded is not None and 0 < len(decoded.findings) <= 1500
    comment = inline_body(findings[0])
    assert len(comment) < MAX_BODY and comment.endswith(
        f"<!-- reviewbot:finding {findings[0].fingerprint} -->"
    )


def test_fixed_reopened_and_known_findings() -> None:
    a, b = _f(1, "danger(a)"), _f(2, "danger(b)")
    first = reconcile(None, [], [a, b], head="1" * 40, read_head=None)
    assert {f.fingerprint for f in first.new} == {a.fingerprint, b.fingerprint}
    from reviewbot.github.tracking import Placement, TrackedFinding

    for f in (a, b):
        first.state.findings[f.fingerprint] = TrackedFinding.of(
            f, head="1" * 40, placement=Placement.INLINE
        )
    files = {a.path: "ok = 1\n", b.path: "x = danger(b)\n"}
    second = reconcile(first.state, [], [], head="2" * 40, read_head=files.get)
    assert second.fixed == [a.fingerprint] and second.new == []
    # It comes back: open again, not posted again.
    third = reconcile(second.state, [], [a], head="3" * 40, read_head=files.get)
    assert third.new == [] and third.repeated == [a.fingerprint]
    assert third.state.findings[a.fingerprint].status == "open"
    # A fingerprint only in an earlier inline comment (summary lost) is not reposted either.
    assert reconcile(None, [b.fingerprint], [b], head="4" * 40, read_head=None).new == []


def test_diff_map_follows_hunks() -> None:
    patch = "@@ -1,3 +1,4 @@\n a\n+b\n c\n d\n@@ -20,2 +21,3 @@\n x\n+y\n z"
    diff = DiffMap.from_patches([("f.py", patch), ("big.bin", None)])
    assert diff.commentable("f.py", 1, 4) and diff.commentable("f.py", 22, 22)
    assert not diff.commentable("f.py", 4, 21)  # spans two hunks
    assert not diff.commentable("f.py", 10, 10) and not diff.commentable("big.bin", 1, 1)
    assert diff.anchor("f.py", 3, 8) == (3, 4)
