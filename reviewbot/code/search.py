"""``find_calls``: call sites of a name across a view, fast on cold and warm runs;
``find_calls_many``: the same for many names in one pass.

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
from reviewbot.code.calls import CallTarget, Prefilter, RawSite, calls_in_tree_many
from reviewbot.code.imports import python_package
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
# The same when workers must be spawned (the caller runs other threads: the review harness
# searches from a worker thread), which costs ~0.25 s before any work, more when the main
# module is heavy to import. Measured from a thread on 2 cores: 2.95 MB of Django took
# 0.31 s inline vs 0.52 s spawned, 5.9 MB 0.62 s vs 0.69 s.
PARALLEL_MIN_BYTES_SPAWN = 8_000_000


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


# A file to parse: (blob id, bytes, language tag, indices of the targets it may call).
_Item = tuple[str, bytes, str, tuple[int, ...]]

_PACKAGE = "|"


def _tag(path: str, language: Language) -> str:
    """The language tag results are cached under. A Python file's relative imports resolve
    against its package, so the same content in two packages may call different things:
    the package is part of its tag."""
    if language.name != "python":
        return language.cache_tag
    package = python_package(path)
    return f"{language.cache_tag}{_PACKAGE}{package}" if package else language.cache_tag


def _scan(
    items: list[_Item], targets: list[CallTarget]
) -> list[tuple[tuple[str, str], dict[int, FileResult]]]:
    """Parse each file of a batch once and search it for its targets (in a worker or inline)."""
    out: list[tuple[tuple[str, str], dict[int, FileResult]]] = []
    for blob, data, lang_name, wanted in items:
        language = resolve_language(lang_name.partition("@")[0])
        package = lang_name.partition(_PACKAGE)[2] or None
        parsed = parse_blob("", blob, data, language)
        found = calls_in_tree_many(
            parsed.tree, data, language, [targets[i] for i in wanted], package
        )
        results = {
            i: FileResult(sites, parsed.has_errors) for i, sites in zip(wanted, found, strict=True)
        }
        out.append(((blob, lang_name), results))
    return out


def _pool_context() -> multiprocessing.context.BaseContext:
    # fork shares the loaded grammars with the workers at no start-up cost, but forking a
    # process that runs other threads can deadlock a child on a lock held at fork time
    if sys.platform.startswith("linux") and threading.active_count() == 1:
        return multiprocessing.get_context("fork")
    return multiprocessing.get_context("spawn")


def _batches(items: list[_Item], n: int) -> list[list[_Item]]:
    """Split into ``n`` batches of similar byte size (largest files first)."""
    bins: list[list[_Item]] = [[] for _ in range(n)]
    sizes = [0] * n
    for item in sorted(items, key=lambda it: len(it[1]), reverse=True):
        i = sizes.index(min(sizes))
        bins[i].append(item)
        sizes[i] += len(item[1])
    return [b for b in bins if b]


def parse_and_search_many(
    items: list[_Item], targets: list[CallTarget], jobs: int | None
) -> dict[tuple[str, str], dict[int, FileResult]]:
    """Search ``(blob id, bytes, language, target indices)`` items, each file parsed once,
    in parallel processes when it pays."""
    total = sum(len(item[1]) for item in items)
    workers = jobs if jobs is not None else (os.cpu_count() or 1)
    context = _pool_context()
    forked = context.get_start_method() == "fork"
    if (
        workers <= 1
        or total < (PARALLEL_MIN_BYTES if forked else PARALLEL_MIN_BYTES_SPAWN)
        or len(items) < 2
    ):
        return dict(_scan(items, targets))
    workers = min(workers, len(items))
    # a few batches per worker, so a slow batch does not leave the others idle
    batches = _batches(items, workers * 3)
    out: dict[tuple[str, str], dict[int, FileResult]] = {}
    with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
        for result in pool.map(_scan, batches, [targets] * len(batches)):
            out.update(result)
    return out


def parse_and_search(
    items: list[tuple[str, bytes, str]], target: CallTarget, jobs: int | None
) -> dict[tuple[str, str], FileResult]:
    """Search ``(blob id, bytes, language)`` items for one target."""
    found = parse_and_search_many([(b, d, lang, (0,)) for b, d, lang in items], [target], jobs)
    return {key: results[0] for key, results in found.items()}


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
    (search,) = find_calls_many(
        view,
        [name],
        by_name=by_name,
        paths=paths,
        lang=lang,
        jobs=jobs,
        cache_dir=cache_dir,
        use_cache=use_cache,
    )
    return search


def find_calls_many(
    view: SourceView,
    names: Sequence[str | CallTarget],
    *,
    by_name: bool = False,
    paths: Sequence[str] | None = None,
    lang: Language | str | None = None,
    jobs: int | None = None,
    cache_dir: Path | None = None,
    use_cache: bool = True,
) -> list[CallSearch]:
    """The calls of each of ``names``, in one pass: one :class:`CallSearch` per name, in order.

    Each file is read and byte-tested once for all names, each candidate file is parsed
    once and its imports resolved once, whatever number of names it may call. The results
    are those of one :func:`find_calls` per name, and share its cache.

    A name given as a string is searched as ``by_name`` says; a :class:`CallTarget`
    (``CallTarget.parse(name, by_name=...)``) carries its own, so one pass can mix both.
    """
    targets = [_target(n, by_name) for n in names]
    if not targets:
        return []
    language = None
    if lang is not None:
        language = lang if isinstance(lang, Language) else language_named(lang)
        if language is None:
            resolve_language(str(lang))  # raises the one-line usage error
    selected, skipped = select_files(view, paths, language)
    directory = cache_dir if cache_dir is not None else default_cache_dir(view)
    cache = ResultsCache(directory) if use_cache and directory is not None else None
    try:
        # the same target twice is searched once
        distinct = list(dict.fromkeys(targets))
        found = _search(view, distinct, selected, skipped, cache, jobs)
        by_target = dict(zip(distinct, found, strict=True))
        out: list[CallSearch] = []
        given: set[CallTarget] = set()
        for t in targets:
            # a name asked for twice gets its own copy
            out.append(by_target[t].model_copy(deep=True) if t in given else by_target[t])
            given.add(t)
        return out
    finally:
        if cache is not None:
            cache.close()


def _target(name: str | CallTarget, by_name: bool) -> CallTarget:
    if isinstance(name, CallTarget):
        target = name
        shown = name.shown
    else:
        if not name or not name.strip():
            raise UsageError("give a name to search for, e.g. `requests.get`")
        target = CallTarget.parse(name, by_name=by_name)
        shown = name
    if not target.valid:
        raise UsageError(f"'{shown}' is not a name to search for; use e.g. `requests.get`")
    return target


def _search(
    view: SourceView,
    targets: list[CallTarget],
    selected: list[tuple[str, Language]],
    skipped: list[tuple[str, str]],
    cache: ResultsCache | None,
    jobs: int | None,
) -> list[CallSearch]:
    n = len(targets)
    loaded: dict[str, dict[tuple[str, str], FileResult]] = {}
    if cache is not None:
        for t in targets:
            if t.key not in loaded:
                loaded[t.key] = cache.load(t.key)
    known = [loaded.get(t.key, {}) for t in targets]
    results: list[dict[str, FileResult]] = [{} for _ in range(n)]  # per target: path -> result
    new_rows: list[dict[tuple[str, str], FileResult]] = [{} for _ in range(n)]
    cached = [0] * n
    pending: dict[tuple[str, str], _Item] = {}  # what to parse, once per distinct blob
    pending_paths: dict[tuple[str, str], list[str]] = {}
    prefilter = Prefilter(targets)
    # one pass for all ids: asking file by file dominated a warm search
    ids = view.blob_ids([path for path, _ in selected])
    for path, language in selected:
        blob = ids.get(path)
        key = (blob if blob is not None else view.blob_id(path), _tag(path, language))
        missing: list[int] = []
        for i in range(n):
            hit = known[i].get(key) or new_rows[i].get(key)
            if hit is not None:
                results[i][path] = hit
                cached[i] += key in known[i]
            else:
                missing.append(i)
        if not missing:
            continue
        if key in pending:  # an identical blob at another path: parsed once for both
            pending_paths[key].append(path)
            continue
        data = view.read_bytes(path)
        skip: str | None = None
        if len(data) > MAX_FILE_BYTES:
            skip = f"larger than {MAX_FILE_BYTES // 1_000_000} MB"
        elif _is_binary(data):
            skip = "binary file"
        wanted: tuple[int, ...] = ()
        if skip is None:
            asked = set(missing)
            wanted = tuple(i for i in prefilter.candidates(data, language) if i in asked)
        ruled_out = FileResult(None, skip=skip)  # one object for every target it applies to
        for i in missing:
            if i not in wanted:
                results[i][path] = new_rows[i][key] = ruled_out
        if wanted:
            pending[key] = (key[0], data, key[1], wanted)
            pending_paths[key] = [path]
    found = parse_and_search_many(list(pending.values()), targets, jobs)
    parsed = [0] * n
    for key, (_, _, _, wanted) in pending.items():
        for i in wanted:
            parsed[i] += 1
            new_rows[i][key] = found[key][i]
            for path in pending_paths[key]:
                results[i][path] = found[key][i]
    if cache is not None:
        rows: dict[str, dict[tuple[str, str], FileResult]] = {}
        for t, r in zip(targets, new_rows, strict=True):
            rows.setdefault(t.key, {}).update(r)
        cache.store_many(rows)
    return [
        _assemble(targets[i], selected, skipped, results[i], cached[i], parsed[i]) for i in range(n)
    ]


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
