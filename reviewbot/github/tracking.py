"""Findings tracked across pushes, kept in hidden markers inside our own comments.

No external store: the summary comment carries the state (every finding seen on the pull
request, open or fixed) as a compressed hidden marker, and each inline comment carries its
finding's fingerprint. Only comments written by the bot's own login are read, so a marker
pasted by someone else into a PR comment cannot hide or forge findings.

Our own comments also hold model-written text, so a marker is read only from the last line
of the body (where the runtime writes it; model text never ends a body, and is rendered
inert so it holds no marker at all), and the state marker is authenticated: an HMAC-SHA256
over its payload and the pull request, keyed by :func:`state_key` from a secret of the job.
A body with any other state marker, or two, or one whose HMAC does not verify, has no state:
the caller then starts from the current findings, so a forged state can hide nothing.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import zlib
from collections.abc import Callable, Iterable, Mapping
from enum import StrEnum

from pydantic import BaseModel, ValidationError

from reviewbot.config import Severity
from reviewbot.review.findings import Finding
from reviewbot.review.memory import Remembered, alike

SUMMARY_MARKER = "<!-- reviewbot:summary -->"
STATE_PREFIX = "<!-- reviewbot:state"
_STATE = re.compile(r"<!-- reviewbot:state v2 ([A-Za-z0-9+/=]+) ([0-9a-f]{64}) -->")
_FINDING = re.compile(r"<!-- reviewbot:finding ([0-9a-f]{8,64}) -->")
_KEY_LABEL = b"reviewbot tracking state v2\x00"
_WS = re.compile(r"\s+")
STATE_LIMIT = 30_000  # characters of the summary comment the state marker may take
EVIDENCE_KEEP = 240  # characters of whitespace-free evidence kept to tell whether code is gone


def finding_marker(fp: str) -> str:
    return f"<!-- reviewbot:finding {fp} -->"


def _last_line(body: str | None) -> str:
    lines = (body or "").rstrip().rsplit("\n", 1)
    return lines[-1].strip()


def fingerprints_in(body: str) -> set[str]:
    """The fingerprint of one of our inline comments: its marker is the body's last line."""
    match = _FINDING.fullmatch(_last_line(body))
    return {match.group(1)} if match else set()


def state_key(secret: str) -> bytes:
    """The HMAC key for state markers, derived from a secret the job has (never posted)."""
    return hashlib.sha256(_KEY_LABEL + secret.encode("utf-8")).digest()


def _mac(key: bytes, context: str, payload: str) -> str:
    message = context.encode("utf-8") + b"\x00" + payload.encode("ascii")
    return hmac.new(key, message, hashlib.sha256).hexdigest()


class TrackStatus(StrEnum):
    OPEN = "open"
    FIXED = "fixed"
    DISMISSED = "dismissed"  # by someone with write access: never posted again, not open


class Signal(StrEnum):
    REACTION = "reaction"  # 👎 on the bot's comment
    REPLY = "reply"  # a reply "false positive" / "won't fix"
    COMMAND = "command"  # /reviewbot dismiss [reason] in the thread
    SIMILAR = "similar"  # not posted: like a finding dismissed earlier on this pull request
    MEMORY = "memory"  # not posted: like a dismissal the repository remembers
    RESOLVED = "resolved"  # a person resolved the thread while the code stayed as it was


class Dismissal(BaseModel):
    fingerprint: str
    by: str  # the login of the person with write access
    signal: Signal
    reason: str = ""
    # What the dismissed comment showed, so the finding is known without a verified state.
    path: str = ""
    line: int = 1
    severity: Severity = Severity.INFO
    category: str = ""
    title: str = ""


class Placement(StrEnum):
    INLINE = "inline"  # an inline review comment exists
    OUTSIDE_DIFF = "outside_diff"  # lines not in the pull request's diff: summary only
    OVER_LIMIT = "over_limit"  # beyond the inline-comment cap: summary only
    BELOW_INLINE = "below_inline"  # under the repository's min_severity_inline: summary only
    NOT_POSTED = "not_posted"  # like a dismissed finding: listed as dismissed only


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
    dismissal: Dismissal | None = None
    votes: list[str] = []  # the verification's verdicts and reasons, for answers in its thread

    @classmethod
    def of(cls, finding: Finding, *, head: str, placement: Placement) -> TrackedFinding:
        v = finding.verification
        votes = [] if v is None else [
            f"{vote.verdict} ({vote.angle.split(':')[0][:60] or 'skeptic'}): {vote.reason[:240]}"
            for vote in [*v.votes, *([v.judge] if v.judge else [])]
        ]
        return cls(
            votes=votes,
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

    def encode(self, key: bytes, *, context: str = "", limit: int = STATE_LIMIT) -> str:
        """The signed hidden marker; over ``limit`` characters, drop fixed findings, then
        evidence. ``context`` (the pull request) is signed with it: a marker is valid there only.
        """
        text = self._encode(key, context)
        if len(text) <= limit:
            return text
        lean = self.model_copy(deep=True)
        lean.findings = {k: t for k, t in lean.findings.items() if t.status is TrackStatus.OPEN}
        for t in lean.findings.values():
            t.votes = [v[:80] for v in t.votes]
        text = lean._encode(key, context)
        if len(text) <= limit:
            return text
        for t in lean.findings.values():
            t.evidence_key, t.title, t.votes = t.evidence_key[:24], t.title[:60], []
        text = lean._encode(key, context)
        # Last resort: keep the most severe findings that fit; the rest are tracked by the
        # markers of their inline comments only.
        ranked = sorted(lean.findings.values(), key=lambda t: -t.severity.rank)
        while len(text) > limit and ranked:
            ranked = ranked[: max(0, int(len(ranked) * limit / len(text) * 0.9))]
            lean.findings = {t.fingerprint: t for t in ranked}
            text = lean._encode(key, context)
        return text

    def _encode(self, key: bytes, context: str) -> str:
        raw = zlib.compress(self.model_dump_json().encode("utf-8"), 9)
        payload = base64.b64encode(raw).decode("ascii")
        return f"{STATE_PREFIX} v2 {payload} {_mac(key, context, payload)} -->"

    @classmethod
    def decode(cls, body: str, key: bytes, *, context: str = "") -> TrackingState | None:
        """The state in one of our summary comments; None when absent, unreadable or not ours.

        Ours means: the only state marker in ``body``, on its last line, with an HMAC that
        verifies under ``key`` and ``context``. The caller checks who wrote the comment.
        """
        if (body or "").count(STATE_PREFIX) != 1:
            return None
        match = _STATE.fullmatch(_last_line(body))
        if match is None:
            return None
        payload, mac = match.groups()
        if not hmac.compare_digest(mac, _mac(key, context, payload)):
            return None
        try:
            raw = zlib.decompress(base64.b64decode(payload, validate=True), bufsize=1 << 16)
            return cls.model_validate_json(raw)
        except (ValueError, zlib.error, ValidationError):
            return None

    def open_findings(self) -> list[TrackedFinding]:
        return [t for t in self.findings.values() if t.status is TrackStatus.OPEN]

    def dismissed_findings(self) -> list[TrackedFinding]:
        return [t for t in self.findings.values() if t.status is TrackStatus.DISMISSED]


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
    dismissed: list[str] = []  # dismissed since the last review
    suppressed: list[str] = []  # new, but like a dismissed finding: not posted


def like_dismissed(f: Finding, dismissed: Iterable[TrackedFinding]) -> TrackedFinding | None:
    """The dismissed finding ``f`` repeats in other words (see :func:`memory.alike`): the
    lines may have moved, the evidence changed."""
    return next((t for t in dismissed if alike(f, t)), None)


def remembered_dismissals(findings: Iterable[Finding]) -> dict[str, Dismissal]:
    """Dismissals for the findings the review set aside as like remembered ones."""
    return {
        f.fingerprint: Dismissal(fingerprint=f.fingerprint, by="", signal=Signal.MEMORY,
                                 reason=f.remembered or "", path=f.path, line=f.start_line,
                                 severity=f.severity, category=f.category, title=f.title)
        for f in findings
    }


def _apply_dismissals(
    state: TrackingState, current: dict[str, Finding], dismissed: Mapping[str, Dismissal], head: str
) -> list[str]:
    """Mark the findings people dismissed; returns those dismissed since the last review."""
    newly: list[str] = []
    for fp, dismissal in dismissed.items():
        tracked = state.findings.get(fp)
        if tracked is None:
            # Its comment was posted earlier; the state that listed it is lost or unverifiable.
            placement = (Placement.NOT_POSTED if dismissal.signal is Signal.MEMORY
                         else Placement.INLINE)
            tracked = state.findings[fp] = (
                TrackedFinding.of(current[fp], head=head, placement=placement)
                if fp in current else TrackedFinding(
                    fingerprint=fp, path=dismissal.path, start_line=dismissal.line,
                    end_line=dismissal.line, severity=dismissal.severity,
                    category=dismissal.category, title=dismissal.title)
            )
            tracked.first_seen = ""
        if tracked.status is not TrackStatus.DISMISSED:
            newly.append(fp)
        tracked.status, tracked.fixed_in, tracked.dismissal = (
            TrackStatus.DISMISSED, None, dismissal)
    return newly


def reconcile(
    previous: TrackingState | None,
    posted_fingerprints: Iterable[str],
    findings: Iterable[Finding],
    *,
    head: str,
    read_head: Callable[[str], str | None] | None,
    dismissed: Mapping[str, Dismissal] | None = None,
) -> Reconciled:
    """Merge this run's findings into the tracked set.

    ``posted_fingerprints`` are the markers in our earlier inline comments: a finding counts as
    known when either the state or such a comment has it, so a lost summary does not cause
    reposts. ``read_head`` reads a file at the new head (None: deleted); without it nothing is
    marked fixed. ``dismissed`` are the dismissals read from the threads: those findings are
    closed for good, and a new finding like one of them is not posted.
    """
    state = previous.model_copy(deep=True) if previous else TrackingState()
    current: dict[str, Finding] = {}
    for f in findings:
        current.setdefault(f.fingerprint, f)
    newly_dismissed = _apply_dismissals(state, current, dismissed or {}, head)
    known = set(state.findings) | set(posted_fingerprints)

    closed = [t for t in state.findings.values() if t.status is TrackStatus.DISMISSED]
    new: list[Finding] = []
    suppressed: list[str] = []
    for fp, f in current.items():
        if fp in known:
            continue
        like = like_dismissed(f, closed)
        if like is None or like.dismissal is None:
            new.append(f)
            continue
        tracked = state.findings[fp] = TrackedFinding.of(
            f, head=head, placement=Placement.NOT_POSTED)
        tracked.status = TrackStatus.DISMISSED
        tracked.dismissal = Dismissal(fingerprint=fp, by=like.dismissal.by, signal=Signal.SIMILAR,
                                      reason=f"like {like.fingerprint[:8]} ({like.title[:80]})")
        suppressed.append(fp)
    repeated = [fp for fp in current if fp in known]
    fixed: list[str] = []
    for fp in repeated:
        seen = state.findings.get(fp)
        if seen is None:
            # Posted inline earlier but not in the state (none, lost or unverifiable): still open.
            restored = TrackedFinding.of(current[fp], head=head, placement=Placement.INLINE)
            restored.first_seen = ""  # seen before this push; when is not known
            state.findings[fp] = restored
        elif seen.status is TrackStatus.FIXED:
            # It came back: open again, but its old comment stays; do not repost.
            seen.status, seen.fixed_in = TrackStatus.OPEN, None
    if read_head is not None:
        for tracked in state.open_findings():
            if tracked.fingerprint in current:
                continue
            if code_is_gone(tracked, read_head):
                tracked.status, tracked.fixed_in = TrackStatus.FIXED, head
                fixed.append(tracked.fingerprint)
    state.head = head
    return Reconciled(state=state, new=new, repeated=repeated, fixed=fixed,
                      dismissed=newly_dismissed, suppressed=suppressed)


PEOPLE = (Signal.REACTION, Signal.REPLY, Signal.COMMAND, Signal.RESOLVED)  # a person's


def dismissed_by_people(state: TrackingState, pull: int) -> list[Remembered]:
    """The findings people dismissed on pull request ``pull``, as memory entries."""
    out = []
    for t in state.dismissed_findings():
        d = t.dismissal
        if d is None or d.signal not in PEOPLE:
            continue
        out.append(Remembered(fingerprint=t.fingerprint, path=t.path, category=t.category,
                              title=t.title, by=d.by, reason=d.reason, pull=pull))
    return out
