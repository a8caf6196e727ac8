"""Dedup across all finders: one finding per real issue, keeping the strongest evidence.

Two grounded findings are the same issue when they are in the same file, their
lines overlap, and they say the same thing: equal normalised titles, or similar
titles (word overlap) within the same category. Fingerprints alone are too strict
here: two finders quoting slightly different lines of one bug get different ones.
"""

from __future__ import annotations

from collections.abc import Iterable

from reviewbot.review.findings import Finding, normalize_title
from reviewbot.review.grounding import evidence_lines

SAME_CATEGORY_SIMILARITY = 0.34
ANY_CATEGORY_SIMILARITY = 0.6
_STOP = frozenset({"a", "an", "the", "of", "in", "on", "to", "is", "for", "and", "or", "with"})


def _words(title: str) -> frozenset[str]:
    return frozenset(w for w in normalize_title(title).split() if w not in _STOP)


def title_similarity(a: str, b: str) -> float:
    wa, wb = _words(a), _words(b)
    if not wa or not wb:
        return 1.0 if normalize_title(a) == normalize_title(b) else 0.0
    return len(wa & wb) / len(wa | wb)


def same_issue(a: Finding, b: Finding) -> bool:
    if a.path != b.path or a.start_line > b.end_line or b.start_line > a.end_line:
        return False
    if normalize_title(a.title) == normalize_title(b.title):
        return True
    similarity = title_similarity(a.title, b.title)
    if a.category.lower() == b.category.lower():
        return similarity >= SAME_CATEGORY_SIMILARITY
    return similarity >= ANY_CATEGORY_SIMILARITY


def strength(f: Finding) -> tuple[int, int, int]:
    """Evidence first (quoted non-blank characters), then severity, then explanation."""
    quoted = sum(len(line) for line in evidence_lines(f.evidence))
    return quoted, f.severity.rank, len(f.explanation)


def dedup(findings: Iterable[Finding]) -> tuple[list[Finding], int]:
    """Collapse duplicates; returns the kept findings (first-seen order) and how many collapsed.

    Each kept finding records in ``duplicates`` how many others merged into it and
    takes the highest severity of its group.
    """
    index = DedupIndex()
    for f in findings:
        index.add(f)
    return [index.merged(gid) for gid in range(len(index))], index.duplicates


class DedupIndex:
    """Online dedup, so a finding can be verified while other finders still run.

    ``add`` returns the group id and whether the finding opened a new group (only new
    groups go to verification). ``merged`` gives each group's final finding: the
    strongest evidence of the group, its highest severity and its duplicates count.
    The vote is on the group's first finding; a later duplicate only strengthens the
    evidence shown for the same issue.
    """

    def __init__(self) -> None:
        self._groups: list[list[Finding]] = []

    def add(self, finding: Finding) -> tuple[int, bool]:
        for gid, group in enumerate(self._groups):
            if any(same_issue(finding, member) for member in group):
                group.append(finding)
                return gid, False
        self._groups.append([finding])
        return len(self._groups) - 1, True

    @property
    def duplicates(self) -> int:
        return sum(len(g) - 1 for g in self._groups)

    def merged(self, gid: int) -> Finding:
        group = self._groups[gid]
        best = max(group, key=strength)
        severity = max((m.severity for m in group), key=lambda s: s.rank)
        return best.model_copy(update={"duplicates": len(group) - 1, "severity": severity})

    def __len__(self) -> int:
        return len(self._groups)
