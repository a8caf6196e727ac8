"""Findings and the result of a review: the data every report and the GitHub surface read."""

from __future__ import annotations

import hashlib
import re
from enum import StrEnum

from pydantic import BaseModel, Field, computed_field

from reviewbot.config import Severity
from reviewbot.review.evidence import Reproduction
from reviewbot.runtime.stats import RunStats


class Source(StrEnum):
    MODEL = "model"
    RUFF = "ruff"
    SYNTAX = "syntax"


class Status(StrEnum):
    CONFIRMED = "confirmed"  # survived the vote (or deterministic evidence)
    REFUTED = "refuted"
    UNVERIFIED = "unverified"  # the vote could not run (budget stop)


class Vote(BaseModel):
    verdict: str  # "confirmed" | "refuted"
    reason: str
    angle: str = ""
    model: str = ""


class Verification(BaseModel):
    status: Status
    votes: list[Vote] = Field(default_factory=list)
    escalated: bool = False
    judge: Vote | None = None
    reproduction: Reproduction | None = None  # a test run at head: decides without a vote


class Finding(BaseModel):
    path: str
    start_line: int = Field(ge=1)
    end_line: int = Field(ge=1)
    # 1-based columns of the exact range (ruff's own range, the parser's error node); the end
    # column points just past the last character, as SARIF's ``endColumn`` does.
    start_column: int | None = Field(default=None, ge=1)
    end_column: int | None = Field(default=None, ge=1)
    severity: Severity
    category: str  # the review dimension, or "lint" / "syntax" for deterministic ones
    title: str
    explanation: str = ""
    evidence: str = ""  # code quoted from the file at start_line..end_line
    replacement: str | None = None  # new text for lines start_line..end_line
    source: Source = Source.MODEL
    rule: str | None = None  # the ruff code, or the repository rule broken ("REVIEW.md: ...")
    in_diff: bool = True  # every line start..end is a line of the diff on the new side
    verification: Verification | None = None
    duplicates: int = 0  # other candidates that collapsed into this one
    remembered: str | None = None  # like a dismissal in the repository's memory: which one

    @computed_field  # type: ignore[prop-decorator]
    @property
    def fingerprint(self) -> str:
        return fingerprint(self.path, self.category, self.title, self.evidence,
                           span=evidence_span(self))


_WS = re.compile(r"\s+")
_NON_WORD = re.compile(r"[^a-z0-9 ]+")


def normalize_title(title: str) -> str:
    return _WS.sub(" ", _NON_WORD.sub(" ", title.lower())).strip()


def evidence_span(f: Finding) -> str:
    """Where the finding's exact range sits in its evidence, whitespace-insensitively.

    Two findings of one rule on one line (two ``Tuple`` annotations) differ only in their
    columns. Counting the non-blank characters of the evidence before the range's start
    and end tells them apart and, like the evidence key, ignores re-indentation and line
    moves. Empty when the finding has no columns (model findings).
    """
    if f.start_column is None:
        return ""
    lines = f.evidence.split("\n")
    first = lines[0] if lines else ""
    start = len(_WS.sub("", first[: f.start_column - 1]))
    end_index = f.end_line - f.start_line
    if f.end_column is None or not 0 <= end_index < len(lines):
        return str(start)
    before = "".join(lines[:end_index]) + lines[end_index][: f.end_column - 1]
    return f"{start}:{len(_WS.sub('', before))}"


def fingerprint(path: str, category: str, title: str, evidence: str, span: str = "") -> str:
    """Stable across unrelated edits: no line numbers, whitespace-insensitive evidence.

    ``span`` (see :func:`evidence_span`) tells apart findings on the same evidence.
    """
    evidence_key = _WS.sub("", evidence)
    parts = [path, category.lower(), normalize_title(title), evidence_key]
    if span:
        parts.append(span)
    raw = "\x1f".join(parts)
    return hashlib.sha256(raw.encode("utf-8")).hexdigest()[:20]


class RoundFunnel(BaseModel):
    """One finder round (thorough mode runs several)."""

    round: int
    candidates: int = 0
    grounded: int = 0
    new: int = 0  # distinct findings not seen in an earlier round
    confirmed: int = 0
    refuted: int = 0


class Funnel(BaseModel):
    candidates: int = 0  # model findings proposed
    ungrounded: int = 0  # dropped by grounding
    grounded: int = 0
    duplicates: int = 0  # collapsed into another
    deduplicated: int = 0  # distinct findings sent to verification
    confirmed: int = 0
    refuted: int = 0
    escalated: int = 0  # splits decided by the judge
    unverified: int = 0  # not voted on (budget stop)
    deterministic: int = 0  # ruff / syntax findings, reported without a vote
    capped: int = 0  # confirmed but beyond review.max_findings: not reported
    reproduced: int = 0  # of confirmed: a test failed at head for the stated reason, no vote
    disproved: int = 0  # of refuted: the reproducing test passed at head
    rounds: list[RoundFunnel] = Field(default_factory=list)  # finder rounds, in order
    remembered: int = 0  # like a dismissal the repository remembers: listed as dismissed


class SkippedFile(BaseModel):
    path: str
    reason: str


class Coverage(BaseModel):
    reviewed: list[str] = Field(default_factory=list)
    skipped: list[SkippedFile] = Field(default_factory=list)


class ReviewResult(BaseModel):
    base: str
    head: str  # a commit id, or "WORKTREE" for uncommitted changes
    summary: str = ""
    findings: list[Finding] = Field(default_factory=list)  # confirmed + deterministic only
    refuted: list[Finding] = Field(default_factory=list)
    unverified: list[Finding] = Field(default_factory=list)  # not voted on (run stopped)
    dismissed: list[Finding] = Field(default_factory=list)  # like remembered dismissals
    funnel: Funnel = Field(default_factory=Funnel)
    coverage: Coverage = Field(default_factory=Coverage)
    partial: bool = False
    notes: list[str] = Field(default_factory=list)  # e.g. which model phases were skipped and why
    rules: list[str] = Field(default_factory=list)  # the repository rules followed (source names)
    min_severity_inline: Severity | None = None  # from the rules: lower ones go to the summary only
    stats: RunStats | None = None


def line_label(f: Finding) -> str:
    """``12``, ``12:5`` with a column, ``12-14`` or ``12:5-14`` for a range of lines."""
    start = f"{f.start_line}" + (f":{f.start_column}" if f.start_column is not None else "")
    return start if f.start_line == f.end_line else f"{start}-{f.end_line}"


def ranked(findings: list[Finding]) -> list[Finding]:
    """Most severe first, then by file and line: the order every report shows."""
    return sorted(findings, key=lambda f: (-f.severity.rank, f.path, f.start_line,
                                           f.start_column or 0, f.title))


def at_or_above(findings: list[Finding], threshold: Severity) -> list[Finding]:
    return [f for f in findings if f.severity.rank >= threshold.rank]


def apply_cap(result: ReviewResult, limit: int | None) -> None:
    """Keep the ``limit`` most severe findings (``review.max_findings``); say how many went."""
    if limit is None or len(result.findings) <= limit:
        return
    kept = ranked(result.findings)[:limit]
    dropped = len(result.findings) - limit
    result.findings = kept
    result.funnel.capped += dropped
    result.notes.append(f"{dropped} more findings were not reported: the repository caps a "
                        f"review at {limit} (review.max_findings); the most severe are shown")
