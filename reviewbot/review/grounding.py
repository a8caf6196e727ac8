"""Grounding: a model finding is kept only if what it quotes is really there.

Free and deterministic, run before any vote. A finding passes when its file exists
at head, its lines exist, its quoted evidence matches the file whitespace-tolerantly
(within a small window of line drift, after which the lines are re-anchored to where
the evidence really is), and its lines touch the diff or a region the finders were
shown as context.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from reviewbot.review.findings import Finding

DRIFT_LINES = 6  # how far quoted evidence may sit from the lines a finder named
_MIN_FRAGMENT_CHARS = 10  # a one-line quote shorter than this must match a whole line
_WS = re.compile(r"\s+")


class HeadFiles(Protocol):
    """What grounding needs from a view of the head (``reviewbot.git.RepoView`` fits)."""

    def exists(self, path: str) -> bool: ...

    def read(self, path: str) -> str: ...


class DiffLines(Protocol):
    """What grounding needs from one changed file (``reviewbot.git.FileChange`` fits)."""

    path: str

    def in_diff(self, line: int) -> bool: ...


@dataclass(frozen=True)
class LineRange:
    start: int
    end: int

    def overlaps(self, start: int, end: int) -> bool:
        return start <= self.end and self.start <= end


@dataclass
class GroundingScope:
    """Where findings may point: the diff, plus regions shown to finders as context."""

    diff: Mapping[str, DiffLines]
    context: dict[str, list[LineRange]] = field(default_factory=dict)

    def add_context(self, path: str, start: int, end: int) -> None:
        self.context.setdefault(path, []).append(LineRange(start, end))

    def touches(self, path: str, start: int, end: int) -> tuple[bool, bool]:
        """(allowed, every line in the diff)."""
        change = self.diff.get(path)
        hits = [change.in_diff(n) for n in range(start, end + 1)] if change else []
        if any(hits):
            return True, all(hits)
        in_context = any(r.overlaps(start, end) for r in self.context.get(path, ()))
        return in_context, False


@dataclass(frozen=True)
class Rejection:
    finding: Finding
    reason: str


def _norm(line: str) -> str:
    return _WS.sub(" ", line).strip()


def evidence_lines(evidence: str) -> list[str]:
    return [n for n in (_norm(line) for line in evidence.splitlines()) if n]


def locate_evidence(
    file_lines: Sequence[str], evidence: str, start: int, end: int, drift: int = DRIFT_LINES
) -> tuple[int, int] | None:
    """Where the quoted evidence sits (1-based inclusive), nearest to ``start``; None if absent.

    Blank lines are ignored on both sides; each quoted line must equal the file's line
    after whitespace normalisation, except that a one-line quote of at least
    ``_MIN_FRAGMENT_CHARS`` characters may be a fragment of a line.
    """
    wanted = evidence_lines(evidence)
    if not wanted:
        return None
    # Non-blank file lines in the window, with their 1-based numbers.
    lo = max(1, start - drift)
    hi = min(len(file_lines), end + drift + len(wanted))
    numbered = [(n, _norm(file_lines[n - 1])) for n in range(lo, hi + 1)]
    numbered = [(n, text) for n, text in numbered if text]
    fragment = len(wanted) == 1 and len(wanted[0]) >= _MIN_FRAGMENT_CHARS
    best: tuple[int, int] | None = None
    for i in range(len(numbered) - len(wanted) + 1):
        window = numbered[i : i + len(wanted)]
        if all(
            text == want or (fragment and want in text)
            for (_, text), want in zip(window, wanted, strict=True)
        ):
            cand = (window[0][0], window[-1][0])
            if best is None or abs(cand[0] - start) < abs(best[0] - start):
                best = cand
    return best


def ground(
    findings: Iterable[Finding], head: HeadFiles, scope: GroundingScope
) -> tuple[list[Finding], list[Rejection]]:
    """Split findings into grounded ones (re-anchored, ``in_diff`` set) and rejections."""
    kept: list[Finding] = []
    rejected: list[Rejection] = []
    cache: dict[str, list[str] | None] = {}
    for f in findings:
        path = f.path.strip().removeprefix("./")
        if path not in cache:
            try:
                cache[path] = head.read(path).splitlines() if head.exists(path) else None
            except (FileNotFoundError, UnicodeDecodeError, ValueError):
                cache[path] = None
        lines = cache[path]
        if lines is None:
            rejected.append(Rejection(f, f"{path} does not exist at head"))
            continue
        if f.end_line < f.start_line or f.start_line > len(lines):
            rejected.append(Rejection(f, f"lines {f.start_line}-{f.end_line} do not exist"))
            continue
        where = locate_evidence(lines, f.evidence, f.start_line, min(f.end_line, len(lines)))
        if where is None:
            rejected.append(Rejection(f, "quoted evidence not found near the named lines"))
            continue
        start, end = where
        allowed, all_in_diff = scope.touches(path, start, end)
        if not allowed:
            rejected.append(Rejection(f, "lines neither touch the diff nor the given context"))
            continue
        anchored = {"path": path, "start_line": start, "end_line": end, "in_diff": all_in_diff}
        kept.append(f.model_copy(update=anchored))
    return kept, rejected
