"""Callers of changed symbols: `changed_symbols` on a real Django diff, cold and warm.

The diff is Django 5.1.3 -> 5.1.4 (the repository `bench/review_cost.py` builds: 5.1.3's
django/ and tests/ on `main`, 5.1.4's on `release`; 10 files change). Deleted symbols are
included (the base view is passed), as the review harness does.

"per-symbol" is how callers were found before one pass searched for all of them: one or
two `find_calls` per changed symbol, each scanning the repository on its own. It runs the
same searches through the public `find_calls` and must find the same callers.

Cold means a fresh results-cache directory and no parse trees kept in the process (as in
CI, where every run starts cold); warm means the same cache directory a second time. The
cold run is timed from the main thread and from a worker thread (how the review harness
calls it: there a process pool has to spawn its workers instead of forking them).

Run: python bench/callers.py [--repeat 3] [--jobs N] [--skip-per-symbol]
Goal: cold under 5 s.
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from review_cost import build_repo

from reviewbot.code import (
    CallSite,
    ChangedSymbol,
    changed_symbols,
    definitions,
    find_calls,
    parse_file,
    parsing,
    python_module,
)
from reviewbot.git import ChangeSet, Repo, RepoView


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    start = time.perf_counter()
    result = fn()
    return time.perf_counter() - start, result


def per_symbol_callers(
    view: RepoView,
    base: RepoView,
    changes: ChangeSet,
    symbols: list[ChangedSymbol],
    cache_dir: Path,
    jobs: int | None,
) -> list[list[CallSite]]:
    """The callers of each symbol the way they were found before: searches one by one."""
    old_paths = {c.path: c.old_path or c.path for c in changes.files}
    out = []
    for s in symbols:
        # a deleted symbol's lines are the base's, in the file's old path
        source_view, path = (base, old_paths[s.path]) if s.deleted else (view, s.path)
        parsed = parse_file(source_view, path)
        d = next(
            d
            for d in definitions(parsed.tree.root_node, parsed.language)
            if d.qualified == s.qualified and d.start_line == s.start_line
        )
        sites = {
            (c.path, c.start_byte): c
            for c in find_calls(view, d.name, by_name=True, jobs=jobs, cache_dir=cache_dir).sites
        }
        module = python_module(path)
        if module is not None and "." not in d.qualified:
            qualified = f"{module}.{d.name}"
            for c in find_calls(view, qualified, jobs=jobs, cache_dir=cache_dir).sites:
                sites[(c.path, c.start_byte)] = c
        callers = sorted(
            (
                c
                for c in sites.values()
                if s.deleted or not (c.path == path and d.start_byte <= c.start_byte < d.end_byte)
            ),
            key=lambda c: (c.uncertain, c.path, c.start_byte),
        )
        out.append(callers)
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--jobs", type=int, default=None)
    parser.add_argument("--skip-per-symbol", action="store_true")
    args = parser.parse_args()

    path = build_repo()
    repo = Repo.open(path)
    changes = ChangeSet.between(repo, "main", "release")
    print(
        f"Django 5.1.3 -> 5.1.4: {len(changes.files)} files changed; "
        f"{len(RepoView.at(repo, 'release').files())} files at head; "
        f"jobs {args.jobs or os.cpu_count()}"
    )

    def fresh() -> tuple[RepoView, RepoView]:
        parsing._TREE_CACHE.clear()  # a new process keeps no trees
        return RepoView.at(repo, "release"), RepoView.at(repo, "main")

    def run(cache_dir: Path) -> list[ChangedSymbol]:
        head, base = fresh()
        return changed_symbols(head, changes, base_view=base, jobs=args.jobs, cache_dir=cache_dir)

    colds, warms = [], []
    symbols: list[ChangedSymbol] = []
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(args.repeat):
            cache_dir = Path(tmp) / f"one-pass-{i}"
            cold, symbols = timed(lambda d=cache_dir: run(d))
            warm, again = timed(lambda d=cache_dir: run(d))
            assert again == symbols
            colds.append(cold)
            warms.append(warm)
        callers = sum(len(s.callers) for s in symbols)
        print(
            f"{len(symbols)} changed symbols ({sum(s.deleted for s in symbols)} deleted), "
            f"{callers} callers (at most 50 kept per symbol)"
        )
        print(f"  {', '.join(sorted({s.name for s in symbols}))}")
        print(
            f"one pass    cold {min(colds):6.2f} s (best of {args.repeat}: "
            f"{', '.join(f'{c:.2f}' for c in colds)})   warm {min(warms):.2f} s"
        )
        # the review harness calls it from a worker thread, where a process pool must spawn
        threaded: list[float] = []
        for i in range(args.repeat):
            cache_dir = Path(tmp) / f"thread-{i}"
            worker = threading.Thread(
                target=lambda d=cache_dir: threaded.append(timed(lambda: run(d))[0])
            )
            worker.start()
            worker.join()
        print(
            f"one pass    cold {min(threaded):6.2f} s from a worker thread "
            f"(best of {args.repeat}: {', '.join(f'{c:.2f}' for c in threaded)})"
        )
        if args.skip_per_symbol:
            return
        cache_dir = Path(tmp) / "per-symbol"
        head, base = fresh()
        cold, old = timed(
            lambda: per_symbol_callers(head, base, changes, symbols, cache_dir, args.jobs)
        )
        head, base = fresh()
        warm, _ = timed(
            lambda: per_symbol_callers(head, base, changes, symbols, cache_dir, args.jobs)
        )
        shutil.rmtree(cache_dir)
        print(f"per-symbol  cold {cold:6.2f} s (one run)   warm {warm:.2f} s")
        same = all(o[:50] == s.callers for o, s in zip(old, symbols, strict=True))
        print(
            f"same callers as per-symbol: {same};  cold speed-up {cold / min(colds):.1f}x "
            f"(goal: one pass cold under 5 s)"
        )


if __name__ == "__main__":
    main()
