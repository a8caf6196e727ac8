"""Findings and the result of a review: the data every report and the GitHub surface read."""

from __future__ import annotations

import hashlib
import re
from enum import StrEnum

from pydantic import BaseModel, Field, computed_field

from reviewbot.config import Severity
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


class Finding(BaseModel):
    path: str
    start_line: int = Field(ge=1)
    end_line: int = Field(ge=1)
    severity: Severity
    category: str  # the review dimension, or "lint" / "syntax" for deterministic ones
    title: str
    explanation: str = ""
    evidence: str = ""  # code quoted from the file at start_line..end_line
    replacement: str | None = None  # new text for lines start_line..end_line
    source: Source = Source.MODEL
    rule: str | None = None  # e.g. the ruff code
    in_diff: bool = True  # every line start..end is a line of the diff on the new side
    verification: Verification | None = None
    duplicates: int = 0  # other candidates that collapsed into this one

    @computed_field  # type: ignore[prop-decorator]
    @property
    def fingerprint(self) -> str:
        return fingerprint(self.path, self.category, self.title, self.evidence)


_WS = re.compile(r"\s+")
_NON_WORD = re.compile(r"[^a-z0-9 ]+")


def normalize_title(title: str) -> str:
    return _WS.sub(" ", _NON_WORD.sub(" ", title.lower())).strip()


def fingerprint(path: str, category: str, title: str, evidence: str) -> str:
    """Stable across unrelated edits: no line numbers, whitespace-insensitive evidence."""
    evidence_key = _WS.sub("", evidence)
    raw = "\x1f".join([path, category.lower(), normalize_title(title), evidence_key])
    return hashlib.sha256(raw.encode("utf-8")).hexdigest()[:20]


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
    funnel: Funnel = Field(default_factory=Funnel)
    coverage: Coverage = Field(default_factory=Coverage)
    partial: bool = False
    notes: list[str] = Field(default_factory=list)  # e.g. which model phases were skipped and why
    stats: RunStats | None = None


def ranked(findings: list[Finding]) -> list[Finding]:
    """Most severe first, then by file and line: the order every report shows."""
    return sorted(findings, key=lambda f: (-f.severity.rank, f.path, f.start_line, f.title))


def at_or_above(findings: list[Finding], threshold: Severity) -> list[Finding]:
    return [f for f in findings if f.severity.rank >= threshold.rank]
