"""``find_calls``: call sites of one name across a view, fast on cold and warm runs.

Cold: a byte search rules most files out before any parsing, and the remaining
candidates are parsed in parallel processes when there are enough of them to pay
for the pool. Warm: results are cached per (query, blob id), so an unchanged file
is neither read nor parsed again.
"""

from __future__ import annotations

import multiprocessing
import os
import sys
import threading
from collections.abc import Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from reviewbot.code.cache import FileResult, ResultsCache
from reviewbot.code.calls import CallTarget, RawSite, calls_in_tree
from reviewbot.code.languages import (
    Language,
    language_for_path,
    language_named,
    unsupported_language,
)
from reviewbot.code.parsing import parse_blob, resolve_language
from reviewbot.code.source import SourceView
from reviewbot.errors import UsageError

MAX_FILE_BYTES = 2_000_000
# Below this many candidate bytes a process pool costs more than it saves. Measured with
# `python bench/discovery.py --crossover` on 2 cores: 0.16 MB of Django files took 0.05 s
# inline vs 0.06 s pooled, 0.64 MB 0.21 s vs 0.17 s (pool start-up is ~50 ms with fork).
PARALLEL_MIN_BYTES = 400_000


class CallSite(BaseModel):
    """One call of the searched name. Lines and columns are 1-based (columns count bytes)."""

    model_config = ConfigDict(frozen=True)

    path: str
    language: str
    start_byte: int
    end_byte: int
    start_line: int
    end_line: int
    start_col: int
    end_col: int
    qualified_name: str
    matched_text: str  # the callee as written: `r.get`, `g`
    enclosing: str | None  # "Class.method", None at module level
    snippet: str
    uncertain: bool  # e.g. reached only through `from m import *`, or a `use` not resolved
    in_error_tree: bool  # the file has syntax errors: this comes from a partial tree


class CallSearch(BaseModel):
    """The result of a search: sites in path and byte order, files skipped and why, counts."""

    target: str
    sites: list[CallSite] = Field(default_factory=list)
    skipped: list[tuple[str, str]] = Field(default_factory=list)
    files_scanned: int = 0  # files of a supported language looked at (from cache or not)
    files_parsed: int = 0  # parsed in this run
    files_cached: int = 0  # answered by the results cache without reading the file
    error_files: list[str] = Field(default_factory=list)  # files with sites and syntax errors

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for site in self.sites:
            out[site.path] = out.get(site.path, 0) + 1
        return out


def default_cache_dir(view: SourceView) -> Path | None:
    """``<git dir>/reviewbot/cache`` for a git ``RepoView``; None for views outside git."""
    repo = getattr(view, "repo", None)
    state_dir = getattr(repo, "state_dir", None)
    return Path(state_dir) / "cache" if state_dir is not None else None


def select_files(
    view: SourceView, paths: Sequence[str] | None, lang: Language | None
) -> tuple[list[tuple[str, Language]], list[tuple[str, str]]]:
    """Files to look at with their language, and files skipped with a reason."""
    all_files = view.files()
    explicit: set[str] = set()
    if paths:
        wanted: list[str] = []
        seen: set[str] = set()
        universe = set(all_files)
        for raw in paths:
            p = raw.strip().strip("/").removeprefix("./")
            if p in ("", "."):
                chosen = all_files
            elif p in universe:
                chosen = [p]
                explicit.add(p)
            else:
                chosen = [f for f in all_files if f.startswith(p + "/")]
                if not chosen:
                    raise UsageError(
                        f"{raw}: no such file or directory in this tree; "
                        "pass a path relative to the repository root"
                    )
            for f in chosen:
                if f not in seen:
                    seen.add(f)
                    wanted.append(f)
        files = wanted
    else:
        files = all_files
    selected: list[tuple[str, Language]] = []
    skipped: list[tuple[str, str]] = []
    for path in files:
        found = language_for_path(path)
        if lang is not None:
            if found is not None and found.name == lang.name:
                selected.append((path, lang))
            elif found is None and path in explicit:
                selected.append((path, lang))  # named on purpose: parse it as --lang says
            continue
        if found is not None:
            selected.append((path, found))
            continue
        other = unsupported_language(path)
        if other is not None:
            skipped.append((path, f"no {other} grammar installed"))
        elif path in explicit:
            skipped.append((path, "unknown language; pass --lang to choose a grammar"))
    return selected, skipped


def _is_binary(data: bytes) -> bool:
    return b"\0" in data[:8000]


def _scan(
    items: list[tuple[str, bytes, str]], target: CallTarget
) -> list[tuple[tuple[str, str], FileResult]]:
    """Parse and search a batch of ``(blob id, bytes, language tag)`` (in a worker or inline)."""
    out: list[tuple[tuple[str, str], FileResult]] = []
    for blob, data, lang_name in items:
        language = resolve_language(lang_name.partition("@")[0])
        parsed = parse_blob("", blob, data, language)
        sites = calls_in_tree(parsed.tree, data, language, target)
        out.append(((blob, lang_name), FileResult(sites, parsed.has_errors)))
    return out


def _pool_context() -> multiprocessing.context.BaseContext:
    # fork shares the loaded grammars with the workers at no start-up cost, but forking a
    # process that runs other threads can deadlock a child on a lock held at fork time
    if sys.platform.startswith("linux") and threading.active_count() == 1:
        return multiprocessing.get_context("fork")
    return multiprocessing.get_context("spawn")


def _batches(items: list[tuple[str, bytes, str]], n: int) -> list[list[tuple[str, bytes, str]]]:
    """Split into ``n`` batches of similar byte size (largest files first)."""
    bins: list[list[tuple[str, bytes, str]]] = [[] for _ in range(n)]
    sizes = [0] * n
    for item in sorted(items, key=lambda it: len(it[1]), reverse=True):
        i = sizes.index(min(sizes))
        bins[i].append(item)
        sizes[i] += len(item[1])
    return [b for b in bins if b]


def parse_and_search(
    items: list[tuple[str, bytes, str]], target: CallTarget, jobs: int | None
) -> dict[tuple[str, str], FileResult]:
    """Search ``(blob id, bytes, language)`` items, in parallel processes when it pays."""
    total = sum(len(data) for _, data, _ in items)
    workers = jobs if jobs is not None else (os.cpu_count() or 1)
    if workers <= 1 or total < PARALLEL_MIN_BYTES or len(items) < 2:
        return dict(_scan(items, target))
    workers = min(workers, len(items))
    # a few batches per worker, so a slow batch does not leave the others idle
    batches = _batches(items, workers * 3)
    out: dict[tuple[str, str], FileResult] = {}
    with ProcessPoolExecutor(max_workers=workers, mp_context=_pool_context()) as pool:
        for result in pool.map(_scan, batches, [target] * len(batches)):
            out.update(result)
    return out


def find_calls(
    view: SourceView,
    name: str,
    *,
    paths: Sequence[str] | None = None,
    lang: Language | str | None = None,
    jobs: int | None = None,
    cache_dir: Path | None = None,
    use_cache: bool = True,
    by_name: bool = False,
) -> CallSearch:
    """Every call of ``name`` (``requests.get``, ``std::fs::read``) in ``view``.

    ``by_name`` matches any call whose last name is ``name``'s last name (for finding
    callers of a method whose receiver type we cannot know); such sites are uncertain.
    ``cache_dir`` defaults to ``<git dir>/reviewbot/cache`` for a git view.
    """
    if not name or not name.strip():
        raise UsageError("give a name to search for, e.g. `requests.get`")
    target = CallTarget.parse(name, by_name=by_name)
    if not target.valid:
        raise UsageError(f"'{name}' is not a name to search for; use e.g. `requests.get`")
    language = None
    if lang is not None:
        language = lang if isinstance(lang, Language) else language_named(lang)
        if language is None:
            resolve_language(str(lang))  # raises the one-line usage error
    selected, skipped = select_files(view, paths, language)
    directory = cache_dir if cache_dir is not None else default_cache_dir(view)
    cache = ResultsCache(directory) if use_cache and directory is not None else None
    try:
        return _search(view, target, selected, skipped, cache, jobs)
    finally:
        if cache is not None:
            cache.close()


def _search(
    view: SourceView,
    target: CallTarget,
    selected: list[tuple[str, Language]],
    skipped: list[tuple[str, str]],
    cache: ResultsCache | None,
    jobs: int | None,
) -> CallSearch:
    known = cache.load(target.key) if cache is not None else {}
    results: dict[str, FileResult] = {}  # path -> result
    new_rows: dict[tuple[str, str], FileResult] = {}
    pending: list[tuple[str, bytes, str]] = []
    keys: dict[str, tuple[str, str]] = {}
    cached = 0
    # one pass for all ids: asking file by file dominated a warm search
    ids = view.blob_ids([path for path, _ in selected])
    for path, language in selected:
        blob = ids.get(path)
        key = (blob if blob is not None else view.blob_id(path), language.cache_tag)
        keys[path] = key
        hit = known.get(key) or new_rows.get(key)
        if hit is not None:
            results[path] = hit
            cached += key in known
            continue
        data = view.read_bytes(path)
        result: FileResult | None = None
        if len(data) > MAX_FILE_BYTES:
            result = FileResult(None, skip=f"larger than {MAX_FILE_BYTES // 1_000_000} MB")
        elif _is_binary(data):
            result = FileResult(None, skip="binary file")
        elif not target.is_candidate(data, language):
            result = FileResult(None)
        if result is not None:
            results[path] = new_rows[key] = result
        else:
            pending.append((path, data, language.cache_tag))
    # identical blobs at two paths are parsed once
    unique: dict[tuple[str, str], tuple[str, bytes, str]] = {}
    for path, data, lang_name in pending:
        unique.setdefault(keys[path], (keys[path][0], data, lang_name))
    found = parse_and_search(list(unique.values()), target, jobs)
    for path, _, _ in pending:
        results[path] = new_rows[keys[path]] = found[keys[path]]
    if cache is not None:
        cache.store(target.key, new_rows)
    return _assemble(target, selected, skipped, results, cached, len(unique))


def _assemble(
    target: CallTarget,
    selected: Iterable[tuple[str, Language]],
    skipped: list[tuple[str, str]],
    results: dict[str, FileResult],
    cached: int,
    parsed: int,
) -> CallSearch:
    search = CallSearch(target=target.shown, files_cached=cached, files_parsed=parsed)
    scanned = 0
    for path, language in sorted(selected):
        result = results[path]
        if result.skip is not None:
            search.skipped.append((path, result.skip))
            continue
        scanned += 1
        if not result.sites:
            continue
        if result.errors:
            search.error_files.append(path)
        search.sites.extend(_site(path, language, raw) for raw in result.sites)
    search.files_scanned = scanned
    search.skipped = sorted(skipped) + search.skipped
    return search


def _site(path: str, language: Language, raw: RawSite) -> CallSite:
    return CallSite(path=path, language=language.name, **raw.__dict__)
