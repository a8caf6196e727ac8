"""Changed symbols: the definitions a diff touches, and who calls them elsewhere."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import NamedTuple, Protocol

from pydantic import BaseModel, ConfigDict, Field

from reviewbot.code.calls import CallTarget
from reviewbot.code.imports import python_module
from reviewbot.code.languages import language_for_path
from reviewbot.code.parsing import parse_file
from reviewbot.code.search import CallSite, find_calls_many
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

    The callers of all symbols are found in one pass over ``callers_view``.
    """
    found: list[_Found] = []
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
                found += _touched(change, language.name, head_defs)
        if base_view is not None and str(change.status) != "added":
            found += _deleted(base_view, change, head_defs or [])
    searches = _caller_searches(found)
    results = dict(
        zip(
            searches,
            find_calls_many(callers_view or view_head, searches, jobs=jobs, cache_dir=cache_dir),
            strict=True,
        )
    )
    return [
        _symbol(f, _callers(f, [results[t].sites for t in _targets(f)])[:max_callers])
        for f in found
    ]


class _Found(NamedTuple):
    """A changed definition before its callers are known."""

    path: str  # reported path (the new one for a renamed file)
    source_path: str  # the file the definition's lines belong to (old path when deleted)
    language: str
    definition: Definition
    deleted: bool


def _touched(change: _FileChange, language: str, defs: list[Definition]) -> list[_Found]:
    touched: dict[str, Definition] = {}
    for line in sorted(touched_lines(change)):
        found = _innermost(defs, line)
        if found is not None:
            touched.setdefault(found.qualified, found)
    return [
        _Found(change.path, change.path, language, d, deleted=False)
        for d in sorted(touched.values(), key=lambda d: d.start_line)
    ]


def _deleted(
    base_view: SourceView, change: _FileChange, head_defs: list[Definition]
) -> list[_Found]:
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
    return [
        _Found(change.path, base_path, language.name, d, deleted=True)
        for d in sorted(outer, key=lambda d: d.start_line)
    ]


def _symbol(f: _Found, callers: list[CallSite]) -> ChangedSymbol:
    d = f.definition
    return ChangedSymbol(
        path=f.path,
        language=f.language,
        name=d.name,
        qualified=d.qualified,
        kind=d.kind,
        start_line=d.start_line,
        end_line=d.end_line,
        callers=callers,
        deleted=f.deleted,
    )


def _targets(f: _Found) -> list[CallTarget]:
    """The searches that find a definition's callers: calls by its name (uncertain), and for
    a Python module-level definition, calls that resolve to it through imports."""
    d = f.definition
    out = [CallTarget.parse(d.name, by_name=True)]
    module = python_module(f.source_path)
    if module is not None and "." not in d.qualified:
        out.append(CallTarget.parse(f"{module}.{d.name}"))
    return out


def _caller_searches(found: list[_Found]) -> list[CallTarget]:
    return list(dict.fromkeys(t for f in found for t in _targets(f)))


def _callers(f: _Found, searches: list[list[CallSite]]) -> list[CallSite]:
    """Sites of a definition's searches, merged (a resolved site replaces the same site found
    by name), without the definition's own recursive calls."""
    sites = {(s.path, s.start_byte): s for found in searches for s in found}
    d = f.definition
    # a deleted definition's body is not in the file at head: no byte range of it is its own
    own_body = not f.deleted
    return sorted(
        (
            s
            for s in sites.values()
            if not (own_body and s.path == f.path and d.start_byte <= s.start_byte < d.end_byte)
        ),
        key=lambda s: (s.uncertain, s.path, s.start_byte),
    )
