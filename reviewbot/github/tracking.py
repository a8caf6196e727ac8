"""Findings tracked across pushes, kept in hidden markers inside our own comments.

No external store: the summary comment carries the state (every finding seen on the pull
request, open or fixed) as a compressed hidden marker, and each inline comment carries its
finding's fingerprint. Only comments written by the bot's own login are read, so a marker
pasted by someone else into a PR comment cannot hide or forge findings.
"""

from __future__ import annotations

import base64
import re
import zlib
from collections.abc import Callable, Iterable
from enum import StrEnum

from pydantic import BaseModel, ValidationError

from reviewbot.config import Severity
from reviewbot.review.findings import Finding

SUMMARY_MARKER = "<!-- reviewbot:summary -->"
_STATE = re.compile(r"<!-- reviewbot:state ([A-Za-z0-9+/=]+) -->")
_FINDING = re.compile(r"<!-- reviewbot:finding ([0-9a-f]{8,64}) -->")
_WS = re.compile(r"\s+")
STATE_LIMIT = 30_000  # characters of the summary comment the state marker may take
EVIDENCE_KEEP = 240  # characters of whitespace-free evidence kept to tell whether code is gone


def finding_marker(fp: str) -> str:
    return f"<!-- reviewbot:finding {fp} -->"


def fingerprints_in(body: str) -> set[str]:
    return set(_FINDING.findall(body or ""))


class TrackStatus(StrEnum):
    OPEN = "open"
    FIXED = "fixed"


class Placement(StrEnum):
    INLINE = "inline"  # an inline review comment exists
    OUTSIDE_DIFF = "outside_diff"  # lines not in the pull request's diff: summary only
    OVER_LIMIT = "over_limit"  # beyond the inline-comment cap: summary only


class TrackedFinding(BaseModel):
    fingerprint: str
    path: str
    start_line: int
    end_line: int
    severity: Severity
    category: str
    title: str
    evidence_key: str = ""  # whitespace-free prefix of the evidence
    status: TrackStatus = TrackStatus.OPEN
    placement: Placement = Placement.INLINE
    first_seen: str = ""  # head commit where it was first reported
    fixed_in: str | None = None

    @classmethod
    def of(cls, finding: Finding, *, head: str, placement: Placement) -> TrackedFinding:
        return cls(
            fingerprint=finding.fingerprint,
            path=finding.path,
            start_line=finding.start_line,
            end_line=finding.end_line,
            severity=finding.severity,
            category=finding.category,
            title=finding.title[:300],
            evidence_key=_WS.sub("", finding.evidence)[:EVIDENCE_KEEP],
            placement=placement,
            first_seen=head,
        )


class TrackingState(BaseModel):
    version: int = 1
    head: str = ""
    findings: dict[str, TrackedFinding] = {}

    def encode(self, limit: int = STATE_LIMIT) -> str:
        """The hidden marker; over ``limit`` characters, drop fixed findings, then evidence."""
        text = self._encode()
        if len(text) <= limit:
            return text
        lean = self.model_copy(deep=True)
        lean.findings = {k: t for k, t in lean.findings.items() if t.status is TrackStatus.OPEN}
        text = lean._encode()
        if len(text) <= limit:
            return text
        for t in lean.findings.values():
            t.evidence_key, t.title = t.evidence_key[:24], t.title[:60]
        text = lean._encode()
        # Last resort: keep the most severe findings that fit; the rest are tracked by the
        # markers of their inline comments only.
        ranked = sorted(lean.findings.values(), key=lambda t: -t.severity.rank)
        while len(text) > limit and ranked:
            ranked = ranked[: max(0, int(len(ranked) * limit / len(text) * 0.9))]
            lean.findings = {t.fingerprint: t for t in ranked}
            text = lean._encode()
        return text

    def _encode(self) -> str:
        raw = zlib.compress(self.model_dump_json().encode("utf-8"), 9)
        return f"<!-- reviewbot:state {base64.b64encode(raw).decode('ascii')} -->"

    @classmethod
    def decode(cls, body: str) -> TrackingState | None:
        """The state in one of our summary comments; None when absent or unreadable."""
        match = _STATE.search(body or "")
        if match is None:
            return None
        try:
            raw = zlib.decompress(base64.b64decode(match.group(1)), bufsize=1 << 16)
            return cls.model_validate_json(raw)
        except (ValueError, zlib.error, ValidationError):
            return None

    def open_findings(self) -> list[TrackedFinding]:
        return [t for t in self.findings.values() if t.status is TrackStatus.OPEN]


def code_is_gone(tracked: TrackedFinding, read_head: Callable[[str], str | None]) -> bool:
    """The finding's file is gone at head, or its quoted code no longer appears in it."""
    text = read_head(tracked.path)
    if text is None:
        return True
    if tracked.evidence_key:
        return tracked.evidence_key not in _WS.sub("", text)
    return tracked.end_line > text.count("\n") + 1


class Reconciled(BaseModel):
    state: TrackingState
    new: list[Finding]  # never posted before
    repeated: list[str]  # fingerprints found again: not posted again
    fixed: list[str]  # fingerprints whose code is gone in this push


def reconcile(
    previous: TrackingState | None,
    posted_fingerprints: Iterable[str],
    findings: Iterable[Finding],
    *,
    head: str,
    read_head: Callable[[str], str | None] | None,
) -> Reconciled:
    """Merge this run's findings into the tracked set.

    ``posted_fingerprints`` are the markers in our earlier inline comments: a finding counts as
    known when either the state or such a comment has it, so a lost summary does not cause
    reposts. ``read_head`` reads a file at the new head (None: deleted); without it nothing is
    marked fixed.
    """
    state = previous.model_copy(deep=True) if previous else TrackingState()
    known = set(state.findings) | set(posted_fingerprints)
    current: dict[str, Finding] = {}
    for f in findings:
        current.setdefault(f.fingerprint, f)

    new = [f for fp, f in current.items() if fp not in known]
    repeated = [fp for fp in current if fp in known]
    fixed: list[str] = []
    for fp in repeated:
        tracked = state.findings.get(fp)
        if tracked is not None and tracked.status is TrackStatus.FIXED:
            # It came back: open again, but its old comment stays; do not repost.
            tracked.status, tracked.fixed_in = TrackStatus.OPEN, None
    if read_head is not None:
        for tracked in state.open_findings():
            if tracked.fingerprint in current:
                continue
            if code_is_gone(tracked, read_head):
                tracked.status, tracked.fixed_in = TrackStatus.FIXED, head
                fixed.append(tracked.fingerprint)
    state.head = head
    return Reconciled(state=state, new=new, repeated=repeated, fixed=fixed)
