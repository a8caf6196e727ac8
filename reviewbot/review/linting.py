"""The seam of the deterministic tier: a linter, its diagnostics, and the one differ.

A :class:`Linter` says which files it reads, which configuration files must sit next to
them, and turns a :class:`Tree` (one side of the change: base or head) into
:class:`Diagnostic` values. :func:`new_diagnostics` then keeps, for every linter alike,
the head diagnostics that are new on a changed line; the linter turns those into findings.

"New" is decided per construct, by content rather than line number, so that moving code
does not make old diagnostics new. A diagnostic belongs to an *anchor*: its own lines (a
lint), or the construct around it (a top-level statement for a parse error). Head
diagnostics of one kind (rule and message) on one anchor are compared with the base's of
that kind on the same construct, found two ways: an anchor of the same (whitespace-
normalised) text, or the base lines the head anchor came from (its kept lines that hold
a word, and the lines its added lines replaced). Only as many as the head has beyond the base
are new, and only those on an added line are reported.
"""

from __future__ import annotations

import bisect
import re
import tomllib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any, Protocol

from reviewbot.review.findings import Finding


class FileView(Protocol):
    def exists(self, path: str) -> bool: ...

    def read_bytes(self, path: str) -> bytes: ...

    def files(self, prefix: str = "") -> list[str]: ...


class Change(Protocol):
    path: str
    old_path: str | None
    added_lines: set[int]

    @property
    def status(self) -> Any: ...


@dataclass
class DeterministicResult:
    findings: list[Finding] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Diagnostic:
    """One problem a linter found, in a path of the tree it ran on (1-based lines)."""

    path: str
    rule: str
    message: str
    line: int
    end_line: int
    column: int | None = None
    end_column: int | None = None
    anchor: tuple[int, int] | None = None  # the construct it belongs to; None: its own lines
    # What must be equal on both sides for two diagnostics to be the same; None: rule and
    # message. A parse check counts errors per construct whatever their wording.
    kind: str | None = None
    data: Any = None  # what the linter needs to describe it later

    @property
    def lines(self) -> tuple[int, int]:
        return self.anchor or (self.line, self.end_line)

    @property
    def identity(self) -> str:
        return self.kind if self.kind is not None else f"{self.rule}\0{self.message}"


@dataclass
class LintRun:
    diagnostics: list[Diagnostic] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


class Tree:
    """One side of the change as a linter sees it: the files to lint, read from ``view``,
    and (for tools that read files from disk) written out under ``root`` on demand."""

    def __init__(
        self, view: FileView, paths: Iterable[str], root: Path,
        added: Mapping[str, set[int]] | None = None,
    ) -> None:
        self.view = view
        self.paths = [p for p in paths if view.exists(p)]
        self.root = root
        self.added = added or {}
        self._texts: dict[str, str] = {}
        self._written: tuple[str, ...] | None = None

    def changed(self, path: str, line: int) -> bool:
        """Whether the change added (or edited) ``line`` of ``path`` (head side)."""
        return line in self.added.get(path, ())

    def read_bytes(self, path: str) -> bytes:
        return self.view.read_bytes(path)

    def text(self, path: str) -> str:
        if path not in self._texts:
            self._texts[path] = self.view.read_bytes(path).decode("utf-8", "replace")
        return self._texts[path]

    def materialise(self, config_files: Sequence[str]) -> Path:
        """Write the files to lint, and the ``config_files`` in every directory from the
        root down to each of them, under ``root``; returns ``root``."""
        if self._written == tuple(config_files):
            return self.root
        self._written = tuple(config_files)
        self.root.mkdir(parents=True, exist_ok=True)  # even with nothing to write
        configs: set[str] = set()
        for path in self.paths:
            self._write(path)
            parent = PurePosixPath(path).parent
            for directory in [*reversed(parent.parents), parent]:
                for name in config_files:
                    configs.add(str(directory / name) if str(directory) != "." else name)
        for config in sorted(configs):
            if self.view.exists(config):
                self._write(config)
        return self.root

    def _write(self, path: str) -> None:
        target = self.root / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(self.view.read_bytes(path))


class Linter(Protocol):
    """A deterministic checker: ruff, a parser, any tool with the same shape."""

    name: str
    config_files: tuple[str, ...]

    def wants(self, path: str) -> bool:
        """Whether this linter reads ``path``."""
        ...

    def run(self, tree: Tree, *, defaults: bool = False) -> LintRun | None:
        """Diagnostics of ``tree.paths``; None when the tool refused the project's
        configuration (both sides then run again with ``defaults=True``)."""
        ...

    def report(self, new: Sequence[Diagnostic], tree: Tree, *, defaults: bool) -> list[Finding]:
        """The findings for diagnostics new at head (``tree`` is the head)."""
        ...


def read_toml(path: Path) -> dict[str, Any]:
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError):
        return {}


def status_of(change: Change) -> str:
    return str(getattr(change.status, "value", change.status))


def line_of(text: str, n: int) -> str:
    lines = text.splitlines()
    return lines[n - 1] if 1 <= n <= len(lines) else ""


def key_text(text: str) -> str:
    return " ".join(text.split())


def span_key(text: str, start: int, end: int) -> str:
    """The whitespace-normalised text of lines ``start..end``: a construct's content."""
    return "\n".join(key_text(line_of(text, n)) for n in range(start, end + 1))


def line_map(change: Change, head_text: str) -> dict[int, int]:
    """Head line -> base line, for every head line the change kept."""
    added = change.added_lines
    removed: set[int] = set(getattr(change, "removed_lines", ()) or ())
    out: dict[int, int] = {}
    old = 1
    for new in range(1, len(head_text.splitlines()) + 1):
        if new in added:
            continue
        while old in removed:
            old += 1
        out[new] = old
        old += 1
    return out


def replaced_lines(
    change: Change, mapping: dict[int, int], head_lines: int, start: int, end: int
) -> set[int]:
    """Base lines that the added lines among head lines ``start..end`` replaced: those removed
    between the same two kept neighbours (line for line when as many were removed as added:
    lines edited in place; else all of them: a statement collapsed onto one line)."""
    removed: set[int] = set(getattr(change, "removed_lines", ()) or ())
    if not removed:
        return set()
    kept = sorted(mapping)
    out: set[int] = set()
    for n in range(start, end + 1):
        if n not in change.added_lines:
            continue
        at = bisect.bisect_left(kept, n)
        before, after = (kept[at - 1] if at > 0 else 0), (
            kept[at] if at < len(kept) else head_lines + 1)
        low = mapping[before] if before else 0
        high = mapping[after] if after in mapping else max(removed) + 1
        gap = [b for b in range(low + 1, high) if b in removed]
        if len(gap) == after - before - 1:
            gap = [low + n - before]
        out |= set(gap)
    return out


_WORD = re.compile(r"\w")


def touches_added(change: Change, start: int, end: int) -> bool:
    return any(n in change.added_lines for n in range(start, max(start, end) + 1))


def new_diagnostics(
    change: Change,
    base: Sequence[Diagnostic], base_text: str,
    head: Sequence[Diagnostic], head_text: str,
) -> list[Diagnostic]:
    """The head diagnostics of one changed file that are new on a changed line.

    ``base`` are the diagnostics of the file's base version (empty when it was added). A
    base diagnostic accounts for one head diagnostic at most: first those of the same text
    (code that moved, or stayed), then, of the rest, those where the head's came from.
    """
    unmatched: dict[tuple[str, str], list[tuple[int, int]]] = {}
    for d in base:
        start, end = d.lines
        unmatched.setdefault((d.identity, span_key(base_text, start, end)), []).append(
            (start, end))
    groups: dict[tuple[str, int, int], list[Diagnostic]] = {}
    for d in sorted(head, key=lambda d: (d.line, d.column or 0, d.end_line)):
        groups.setdefault((d.identity, *d.lines), []).append(d)
    left: dict[tuple[str, int, int], int] = {}
    for (identity, start, end), found in groups.items():
        same = unmatched.get((identity, span_key(head_text, start, end)), [])
        taken = min(len(found), len(same))
        del same[:taken]
        left[(identity, start, end)] = len(found) - taken
    rest: dict[str, list[tuple[int, int]]] = {}
    for (identity, _), ranges in unmatched.items():
        rest.setdefault(identity, []).extend(ranges)
    mapping = line_map(change, head_text) if base else {}
    head_lines = len(head_text.splitlines())
    out: list[Diagnostic] = []
    for (identity, start, end), found in groups.items():
        excess = left[(identity, start, end)]
        touched = [d for d in found if touches_added(change, d.line, d.end_line)]
        if not touched or excess <= 0:
            continue
        # Lines of only brackets and punctuation ("}") say nothing about where a construct
        # came from: the diff may pair them with any other closing brace.
        origin = {mapping[n] for n in range(start, end + 1)
                  if n in mapping and _WORD.search(line_of(head_text, n))}
        origin |= replaced_lines(change, mapping, head_lines, start, end)
        candidates = rest.get(identity, [])
        came_from = [r for r in candidates if any(r[0] <= n <= r[1] for n in origin)]
        for r in came_from[:excess]:
            candidates.remove(r)
        excess -= min(excess, len(came_from))
        out.extend(touched[:excess])
    return sorted(out, key=lambda d: (d.line, d.column or 0))
