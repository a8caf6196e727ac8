"""The deterministic tier: a registry of linters, free and always on.

Only what the change introduces is reported. Every linter (:class:`~reviewbot.review.
linting.Linter`) runs on the changed files it reads at the head and, for the files where
the head has something on a changed line, at the base, each side read from the object
store (or the working tree); one differ (:func:`~reviewbot.review.linting.new_diagnostics`)
keeps what is new at head on a changed line. ``review.linters`` picks the linters by name:
``ruff`` (:mod:`reviewbot.review.ruff_linter`) and ``syntax``, the tree-sitter parse
check (:mod:`reviewbot.review.parse_check`).
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterable, Sequence
from pathlib import Path

from reviewbot.review.linting import (
    Change,
    DeterministicResult,
    Diagnostic,
    FileView,
    Linter,
    LintRun,
    Tree,
    line_map,
    new_diagnostics,
    status_of,
)
from reviewbot.review.parse_check import ParseCheck
from reviewbot.review.ruff_linter import Ruff

__all__ = ["LINTERS", "DeterministicResult", "deterministic_findings", "line_map", "lint",
           "ruff_findings", "syntax_findings"]

# Name -> linter, in the order their findings are listed.
LINTERS: dict[str, Linter] = {"syntax": ParseCheck(), "ruff": Ruff()}


def _by_path(run: LintRun) -> dict[str, list[Diagnostic]]:
    out: dict[str, list[Diagnostic]] = {}
    for d in run.diagnostics:
        out.setdefault(d.path, []).append(d)
    return out


def lint(
    linter: Linter, base: FileView, head: FileView, changes: Sequence[Change], scratch: Path,
) -> DeterministicResult:
    """What ``linter`` finds new at head on the changed lines of ``changes``."""
    out = DeterministicResult()
    live = [c for c in changes if status_of(c) != "deleted" and linter.wants(c.path)]
    if not live:
        return out
    head_tree = Tree(head, [c.path for c in live], scratch / "head",
                     added={c.path: c.added_lines for c in live})
    defaults = False
    head_run = linter.run(head_tree)
    if head_run is None:
        defaults = True
        head_run = linter.run(head_tree, defaults=True) or LintRun()
    head_diags = _by_path(head_run)
    # The base is needed only where the head has something on a changed line.
    relevant = [c for c in live if status_of(c) != "added" and any(
        any(n in c.added_lines for n in range(d.line, d.end_line + 1))
        for d in head_diags.get(c.path, ()))]
    base_tree = Tree(base, [c.old_path or c.path for c in relevant], scratch / "base")
    base_run = linter.run(base_tree, defaults=defaults)
    if base_run is None:  # the base's configuration is refused, the head's was not
        defaults = True
        head_run = linter.run(head_tree, defaults=True) or LintRun()
        head_diags = _by_path(head_run)
        base_run = linter.run(base_tree, defaults=True)
    if defaults:
        out.notes.append(f"{linter.name} refused the repository's configuration; ran "
                         f"{linter.name} with its defaults")
    base_diags = _by_path(base_run or LintRun())
    out.notes.extend([*head_run.notes, *(base_run.notes if base_run else [])])
    new: list[Diagnostic] = []
    for c in live:
        if c.path not in head_diags:
            continue
        old = c.old_path or c.path
        in_base = old in base_tree.paths
        new.extend(new_diagnostics(
            c, base_diags.get(old, []) if in_base else [],
            base_tree.text(old) if in_base else "",
            head_diags[c.path], head_tree.text(c.path),
        ))
    out.findings.extend(linter.report(new, head_tree, defaults=defaults))
    return out


def deterministic_findings(
    base: FileView, head: FileView, changes: Sequence[Change], *, ruff: bool = True,
    linters: Iterable[str | Linter] | None = None,
) -> DeterministicResult:
    """Every selected linter's new findings (``linters``: names of :data:`LINTERS` or
    linters; all by default). ``ruff=False`` leaves ruff out whatever ``linters`` says."""
    chosen = [LINTERS[x] if isinstance(x, str) else x
              for x in (LINTERS if linters is None else linters)]
    chosen.sort(key=lambda linter: list(LINTERS).index(linter.name)
                if linter.name in LINTERS else len(LINTERS))
    out = DeterministicResult()
    with tempfile.TemporaryDirectory(prefix="reviewbot-lint-") as tmp:
        for linter in chosen:
            if not ruff and linter.name == "ruff":
                continue
            found = lint(linter, base, head, changes, Path(tmp, linter.name))
            out.findings.extend(found.findings)
            out.notes.extend(found.notes)
    return out


def ruff_findings(
    base: FileView, head: FileView, changes: Sequence[Change]
) -> DeterministicResult:
    """Ruff diagnostics new at head on changed lines of changed Python files."""
    return deterministic_findings(base, head, changes, linters=["ruff"])


def syntax_findings(
    base: FileView, head: FileView, changes: Sequence[Change]
) -> DeterministicResult:
    """Parse errors at head on added lines in constructs the base parsed cleanly."""
    return deterministic_findings(base, head, changes, linters=["syntax"])
