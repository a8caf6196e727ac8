"""Finding the sites to migrate, grouping them by file, and ordering the files."""

from __future__ import annotations

import fnmatch
import heapq
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import tree_sitter

from reviewbot.code.calls import CallTarget, calls_in_tree
from reviewbot.code.languages import Language, language_for_path
from reviewbot.code.parsing import parse, resolve_language
from reviewbot.code.source import SourceView
from reviewbot.errors import UsageError
from reviewbot.migrate.rewrite import SiteSpan, call_span
from reviewbot.migrate.rules import MigrationSpec


@dataclass(frozen=True)
class Site:
    path: str
    start_byte: int
    end_byte: int
    line: int
    end_line: int
    snippet: str
    callee: str  # the callee as written (find mode) or the site capture's text (query mode)


@dataclass
class Discovery:
    by_file: dict[str, list[Site]] = field(default_factory=dict)
    skipped: list[tuple[str, str]] = field(default_factory=list)

    @property
    def site_count(self) -> int:
        return sum(len(s) for s in self.by_file.values())


def _snippet(source: bytes, start: int) -> str:
    ls = source.rfind(b"\n", 0, start) + 1
    le = source.find(b"\n", start)
    return source[ls : le if le >= 0 else len(source)].decode("utf-8", "replace").strip()[:200]


def path_selected(path: str, globs: Sequence[str]) -> bool:
    return not globs or any(fnmatch.fnmatch(path, g) for g in globs)


def compile_query(spec: MigrationSpec) -> tuple[Language, tree_sitter.Query]:
    assert spec.query is not None and spec.language is not None
    lang = resolve_language(spec.language)
    try:
        return lang, tree_sitter.Query(lang.grammar(), spec.query)
    except (tree_sitter.QueryError, ValueError) as exc:  # QueryError in 0.26; ValueError earlier
        raise UsageError(f"the tree-sitter query does not compile for {lang.name}: {exc}") from None


def _site_node(
    spec: MigrationSpec, caps: dict[str, list[tree_sitter.Node]]
) -> tree_sitter.Node | None:
    nodes = caps.get(spec.site_capture) or next(iter(caps.values()), None)
    return nodes[0] if nodes else None


def query_spans(
    spec: MigrationSpec, tree: tree_sitter.Tree, query: tree_sitter.Query
) -> list[SiteSpan]:
    spans: dict[tuple[int, int], SiteSpan] = {}
    for _, caps in tree_sitter.QueryCursor(query).matches(tree.root_node):
        node = _site_node(spec, caps)
        if node is None:
            continue
        captures = {name: (ns[0].start_byte, ns[0].end_byte) for name, ns in caps.items() if ns}
        spans.setdefault(
            (node.start_byte, node.end_byte),
            SiteSpan(node.start_byte, node.end_byte, node.start_point[0] + 1, captures),
        )
    return sorted(spans.values(), key=lambda s: s.start)


def sites_in_source(spec: MigrationSpec, path: str, source: bytes) -> list[Site]:
    """The spec's sites in one file's bytes (used for discovery and for the sites gate)."""
    if spec.query is not None:
        qlang, query = compile_query(spec)
        tree = parse(source, qlang)
        return [
            Site(
                path,
                s.start,
                s.end,
                s.line,
                s.line + source[s.start : s.end].count(b"\n"),
                _snippet(source, s.start),
                source[s.start : s.end].decode("utf-8", "replace"),
            )
            for s in query_spans(spec, tree, query)
        ]
    assert spec.find is not None
    lang = resolve_language(spec.language) if spec.language else language_for_path(path)
    if lang is None:
        return []
    tree = parse(source, lang)
    return [
        Site(path, r.start_byte, r.end_byte, r.start_line, r.end_line, r.snippet, r.matched_text)
        for r in calls_in_tree(tree, source, lang, CallTarget.parse(spec.find))
    ]


def spans_for(spec: MigrationSpec, tree: tree_sitter.Tree, sites: Sequence[Site]) -> list[SiteSpan]:
    """The rewrite spans (with captures) of a file's sites."""
    if spec.query is not None:
        _, query = compile_query(spec)
        wanted = {(s.start_byte, s.end_byte) for s in sites}
        return [s for s in query_spans(spec, tree, query) if (s.start, s.end) in wanted]
    out = []
    for site in sites:
        span = call_span(tree, site.start_byte, site.end_byte)
        if span is not None:
            out.append(span)
    return out


def discover(view: SourceView, spec: MigrationSpec) -> Discovery:
    """Every site in the view, grouped by file (files sorted by path)."""
    found = Discovery()
    if spec.find is not None:
        from reviewbot.code import find_calls

        lang = resolve_language(spec.language) if spec.language else None
        search = find_calls(view, spec.find, lang=lang)
        for cs in search.sites:
            if not path_selected(cs.path, spec.paths):
                continue
            found.by_file.setdefault(cs.path, []).append(
                Site(
                    cs.path,
                    cs.start_byte,
                    cs.end_byte,
                    cs.start_line,
                    cs.end_line,
                    cs.snippet,
                    cs.matched_text,
                )
            )
        found.skipped = [
            (s[0], s[1]) if isinstance(s, tuple) else (s.path, s.reason) for s in search.skipped
        ]
    else:
        lang, _ = compile_query(spec)
        for path in view.files():
            if language_for_path(path) != lang or not path_selected(path, spec.paths):
                continue
            sites = sites_in_source(spec, path, view.read_bytes(path))
            if sites:
                found.by_file[path] = sites
    found.by_file = {
        p: sorted(found.by_file[p], key=lambda s: s.start_byte) for p in sorted(found.by_file)
    }
    return found


# --- ordering ---------------------------------------------------------------------------

_PY_IMPORTS = re.compile(
    rb"^\s*(?:from\s+(\.*[\w.]*)\s+import\s+([\w, ()*]+)|import\s+([\w., ]+))", re.M
)


def _python_module(path: str) -> str | None:
    if not path.endswith(".py"):
        return None
    parts = path[:-3].split("/")
    if parts and parts[0] in ("src", "lib"):
        parts = parts[1:]
    if parts and parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts) or None


def _imported_modules(path: str, source: bytes) -> set[str]:
    here = _python_module(path) or ""
    package = here if path.endswith("__init__.py") else here.rpartition(".")[0]
    out: set[str] = set()
    for m in _PY_IMPORTS.finditer(source):
        if m.group(3):
            out |= {part.split(" as ")[0].strip() for part in m.group(3).decode().split(",")}
            continue
        mod = m.group(1).decode()
        if mod.startswith("."):
            dots = len(mod) - len(mod.lstrip("."))
            anchor = package.split(".") if package else []
            anchor = anchor[: len(anchor) - (dots - 1)] if dots > 1 else anchor
            mod = ".".join([*anchor, mod.lstrip(".")]).strip(".")
        out.add(mod)
        names = m.group(2).decode().replace("(", "").replace(")", "")
        out |= {f"{mod}.{n.split(' as ')[0].strip()}" for n in names.split(",") if n.strip()}
    return out


def order_files(paths: Iterable[str], read: SourceView) -> list[str]:
    """Files whose definitions others import come first (Python imports); else by path.

    Cycles and unknown languages fall back to path order, so the order is always total
    and deterministic.
    """
    files = sorted(paths)
    modules = {m: p for p in files if (m := _python_module(p))}
    deps: dict[str, set[str]] = {p: set() for p in files}
    for p in files:
        if not p.endswith(".py"):
            continue
        for mod in _imported_modules(p, read.read_bytes(p)):
            while mod:
                target = modules.get(mod)
                if target is not None and target != p:
                    deps[p].add(target)
                    break
                mod = mod.rpartition(".")[0]
    users: dict[str, set[str]] = {p: set() for p in files}
    for p, ds in deps.items():
        for d in ds:
            users[d].add(p)
    waiting = {p: len(ds) for p, ds in deps.items()}
    ready = [p for p in files if waiting[p] == 0]
    heapq.heapify(ready)
    out: list[str] = []
    while len(out) < len(files):
        if not ready:  # a cycle: release the first remaining file by path
            p = min(p for p in files if waiting[p] > 0)
            waiting[p] = 0
            ready.append(p)
        p = heapq.heappop(ready)
        if waiting[p] < 0:
            continue
        waiting[p] = -1
        out.append(p)
        for u in sorted(users[p]):
            if waiting[u] > 0:
                waiting[u] -= 1
                if waiting[u] == 0:
                    heapq.heappush(ready, u)
    return out
