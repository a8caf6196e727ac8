"""Changed symbols: the definitions a diff touches, and who calls them elsewhere."""

from __future__ import annotations

import posixpath
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Protocol

from pydantic import BaseModel, ConfigDict, Field

from reviewbot.code.languages import language_for_path
from reviewbot.code.parsing import parse_file
from reviewbot.code.search import CallSite, find_calls
from reviewbot.code.source import SourceView
from reviewbot.code.symbols import Definition, definitions


# What is read from the git layer's ChangeSet (read-only properties, so that its
# pydantic models, whose fields are more specific types, satisfy these protocols).
class _Hunk(Protocol):
    @property
    def old_start(self) -> int: ...
    @property
    def old_lines(self) -> int: ...
    @property
    def new_start(self) -> int: ...
    @property
    def new_lines(self) -> int: ...


class _FileChange(Protocol):
    @property
    def path(self) -> str: ...
    @property
    def old_path(self) -> str | None: ...
    @property
    def status(self) -> str: ...
    @property
    def added_lines(self) -> set[int]: ...
    @property
    def removed_lines(self) -> set[int]: ...
    @property
    def hunks(self) -> Sequence[_Hunk]: ...


class _ChangeSet(Protocol):
    @property
    def files(self) -> Sequence[_FileChange]: ...


class ChangedSymbol(BaseModel):
    """A function, method or class whose lines the diff touches, with its call sites.

    ``deleted`` symbols exist at the base but no longer at head: their lines are the base's
    (in the file's old path when it was renamed), and their callers are those left at head.
    """

    model_config = ConfigDict(frozen=True)

    path: str
    language: str
    name: str
    qualified: str  # "Class.method"
    kind: str  # function | method | class | module
    start_line: int
    end_line: int
    callers: list[CallSite] = Field(default_factory=list)
    deleted: bool = False


def touched_lines(change: _FileChange) -> set[int]:
    """New-side lines the change touches: added lines, and where removed lines used to be."""
    lines = set(change.added_lines)
    for hunk in change.hunks:
        removed = [
            n
            for n in change.removed_lines
            if hunk.old_start <= n < hunk.old_start + max(hunk.old_lines, 1)
        ]
        for n in removed:
            # context before the first change is equal on both sides, so the offset carries over
            offset = n - hunk.old_start
            last = hunk.new_start + max(hunk.new_lines, 1) - 1
            lines.add(min(max(hunk.new_start + offset, hunk.new_start), last))
    return lines


def _innermost(defs: list[Definition], line: int) -> Definition | None:
    best: Definition | None = None
    for d in defs:
        if d.start_line <= line <= d.end_line and (
            best is None or d.end_line - d.start_line < best.end_line - best.start_line
        ):
            best = d
    return best


def python_module(path: str) -> str | None:
    """``pkg/mod.py`` -> ``pkg.mod``; ``pkg/__init__.py`` -> ``pkg``; ``src/`` layouts kept."""
    stem, ext = posixpath.splitext(path)
    if ext not in (".py", ".pyi"):
        return None
    parts = stem.split("/")
    if parts[-1] == "__init__":
        parts = parts[:-1]
    if parts and parts[0] == "src" and len(parts) > 1:
        parts = parts[1:]
    return ".".join(parts) if parts and all(p.isidentifier() for p in parts) else None


def changed_symbols(
    view_head: SourceView,
    changeset: _ChangeSet,
    *,
    base_view: SourceView | None = None,
    callers_view: SourceView | None = None,
    max_callers: int = 50,
    jobs: int | None = None,
    cache_dir: Path | None = None,
) -> list[ChangedSymbol]:
    """The innermost definitions touched by each changed file, with their callers.

    Callers are found by name in ``callers_view`` (default: ``view_head``); a call reached
    only by name (``obj.method()``) is marked uncertain. For Python module-level functions
    and classes, calls resolved through imports (``from pkg.mod import f``) are certain.

    With ``base_view`` (the change's base), definitions the change removes are reported
    too, ``deleted=True``: their remaining callers call something that is gone.
    """
    callers_in = _BlobIdMemo(callers_view or view_head)
    out: list[ChangedSymbol] = []
    for change in changeset.files:
        language = language_for_path(change.path)
        if language is None:
            continue
        head_defs: list[Definition] | None = None
        if str(change.status) != "deleted":
            try:
                parsed = parse_file(view_head, change.path, language)
            except FileNotFoundError:
                parsed = None
            if parsed is not None:
                head_defs = definitions(parsed.tree.root_node, language)
                out += _touched(
                    callers_in, change, language.name, head_defs, max_callers, jobs, cache_dir
                )
        if base_view is not None and str(change.status) != "added":
            out += _deleted(
                callers_in, base_view, change, head_defs or [], max_callers, jobs, cache_dir
            )
    return out


def _touched(
    callers_in: SourceView,
    change: _FileChange,
    language: str,
    defs: list[Definition],
    max_callers: int,
    jobs: int | None,
    cache_dir: Path | None,
) -> list[ChangedSymbol]:
    touched: dict[str, Definition] = {}
    for line in sorted(touched_lines(change)):
        found = _innermost(defs, line)
        if found is not None:
            touched.setdefault(found.qualified, found)
    out = []
    for d in sorted(touched.values(), key=lambda d: d.start_line):
        callers = _callers(callers_in, change.path, d, jobs, cache_dir)
        out.append(_symbol(change.path, language, d, callers[:max_callers]))
    return out


def _deleted(
    callers_in: SourceView,
    base_view: SourceView,
    change: _FileChange,
    head_defs: list[Definition],
    max_callers: int,
    jobs: int | None,
    cache_dir: Path | None,
) -> list[ChangedSymbol]:
    """Definitions of the base file with no definition of the same qualified name at head."""
    base_path = change.old_path or change.path
    language = language_for_path(base_path)
    if language is None or not change.removed_lines:
        return []
    try:
        parsed = parse_file(base_view, base_path, language)
    except FileNotFoundError:
        return []
    remaining = {d.qualified for d in head_defs}
    gone = [d for d in definitions(parsed.tree.root_node, language) if d.qualified not in remaining]
    # what was inside a deleted class went with it; the class stands for all of it
    outer = [
        d
        for d in gone
        if not any(o is not d and d.qualified.startswith(o.qualified + ".") for o in gone)
    ]
    out = []
    for d in sorted(outer, key=lambda d: d.start_line):
        # the file at head (if any) is another text: no byte range of it is d's own body
        callers = _callers(callers_in, base_path, d, jobs, cache_dir, own_body=False)
        out.append(_symbol(change.path, language.name, d, callers[:max_callers], deleted=True))
    return out


def _symbol(
    path: str, language: str, d: Definition, callers: list[CallSite], *, deleted: bool = False
) -> ChangedSymbol:
    return ChangedSymbol(
        path=path,
        language=language,
        name=d.name,
        qualified=d.qualified,
        kind=d.kind,
        start_line=d.start_line,
        end_line=d.end_line,
        callers=callers,
        deleted=deleted,
    )


class _BlobIdMemo:
    """A view that remembers blob ids: every search (two per changed symbol) asks for all
    of them, and a working-tree view would scan its status each time."""

    def __init__(self, view: SourceView) -> None:
        self._view = view
        self._ids: dict[str, str] = {}
        self._all = False
        # the results cache location follows the wrapped view
        self.repo = getattr(view, "repo", None)

    def files(self, prefix: str = "") -> list[str]:
        return self._view.files(prefix)

    def read_bytes(self, path: str) -> bytes:
        return self._view.read_bytes(path)

    def blob_id(self, path: str) -> str:
        found = self._ids.get(path)
        if found is None:
            found = self._ids[path] = self._view.blob_id(path)
        return found

    def blob_ids(self, paths: Iterable[str] | None = None) -> dict[str, str]:
        if not self._all:
            self._ids.update(self._view.blob_ids())
            self._all = True
        if paths is None:
            return dict(self._ids)
        return {p: self._ids[p] for p in paths if p in self._ids}


def _callers(
    view: SourceView,
    path: str,
    d: Definition,
    jobs: int | None,
    cache_dir: Path | None,
    *,
    own_body: bool = True,
) -> list[CallSite]:
    by_name = find_calls(view, d.name, by_name=True, jobs=jobs, cache_dir=cache_dir).sites
    sites = {(s.path, s.start_byte): s for s in by_name}
    module = python_module(path)
    if module is not None and "." not in d.qualified:
        resolved = find_calls(view, f"{module}.{d.name}", jobs=jobs, cache_dir=cache_dir).sites
        for s in resolved:
            sites[(s.path, s.start_byte)] = s
    # the definition's own recursive calls are not callers
    return sorted(
        (
            s
            for s in sites.values()
            if not (own_body and s.path == path and d.start_byte <= s.start_byte < d.end_byte)
        ),
        key=lambda s: (s.uncertain, s.path, s.start_byte),
    )
