"""Discovery benchmark: all `os.path.join` calls in Django's source, cold and warm.

Django comes from its sdist on the package registry, committed into a fresh git
repository under bench/.cache/ (git-ignored). Compared with `rg -c` (the lexical
floor) and `ast-grep` on the same tree. Goals: cold within 1.5x of ast-grep, warm
under 0.5 s.

    python bench/discovery.py [--version 5.1.4] [--name os.path.join] [--jobs N]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from sdist import committed_repo

from reviewbot.code import find_calls, parsing
from reviewbot.code import search as search_module
from reviewbot.git import Repo, RepoView


def django_repo(version: str) -> Path:
    """Django's sdist committed into its own repository (built once)."""
    return committed_repo("django", version, f"django-{version}-repo")


def timed(fn):  # type: ignore[no-untyped-def]
    start = time.perf_counter()
    result = fn()
    return time.perf_counter() - start, result


def run_tool(args: list[str], cwd: Path, repeat: int) -> tuple[float, str] | None:
    """Best wall time of ``repeat`` runs of an external tool, and its output."""
    if shutil.which(args[0]) is None:
        return None
    best, out = float("inf"), ""
    for _ in range(repeat):
        seconds, proc = timed(lambda: subprocess.run(args, cwd=cwd, capture_output=True, text=True))
        best, out = min(best, seconds), proc.stdout
    return best, out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--version", default="5.1.4")
    parser.add_argument("--name", default="os.path.join")
    parser.add_argument("--jobs", type=int, default=None)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    path = django_repo(args.version)
    repo = Repo.open(path)
    view = RepoView.at(repo, "HEAD")
    py_files = [f for f in view.files() if f.endswith(".py")]
    cache_dir = repo.state_dir / "cache"
    print(
        f"Django {args.version}: {len(view.files())} files, {len(py_files)} Python; "
        f"searching {args.name} with {args.jobs or os.cpu_count()} jobs"
    )

    colds, warms = [], []
    for _ in range(args.repeat):
        shutil.rmtree(cache_dir, ignore_errors=True)
        parsing._TREE_CACHE.clear()  # cold means cold: no trees kept from the previous round
        fresh = RepoView.at(repo, "HEAD")  # no listing cached in the view either
        cold, result = timed(lambda v=fresh: find_calls(v, args.name, jobs=args.jobs))
        colds.append(cold)
        fresh = RepoView.at(repo, "HEAD")
        warm, again = timed(lambda v=fresh: find_calls(v, args.name, jobs=args.jobs))
        warms.append(warm)
        assert [s.model_dump() for s in again.sites] == [s.model_dump() for s in result.sites]
    cold, warm = min(colds), min(warms)
    print(
        f"reviewbot cold: {cold:.3f} s (best of {args.repeat}; "
        f"all {', '.join(f'{c:.2f}' for c in colds)})"
        f"  {len(result.sites)} sites in {len(result.counts())} files, "
        f"{result.files_parsed} files parsed of {result.files_scanned}"
    )
    print(
        f"reviewbot warm: {warm:.3f} s (best of {args.repeat})  files parsed: {again.files_parsed},"
        f" answered from cache: {again.files_cached}"
    )
    literal = [s for s in result.sites if s.matched_text == args.name]
    print(
        f"  {len(literal)} spelled `{args.name}(`; the other {len(result.sites) - len(literal)}"
        f" through aliases: {sorted({s.matched_text for s in result.sites} - {args.name})}"
    )
    parsing._TREE_CACHE.clear()
    uncached, _ = timed(
        lambda: find_calls(RepoView.at(repo, "HEAD"), args.name, jobs=args.jobs, use_cache=False)
    )
    print(f"reviewbot without results cache: {uncached:.3f} s")

    # inline vs process pool: where the crossover lies
    saved = search_module.PARALLEL_MIN_BYTES
    try:
        search_module.PARALLEL_MIN_BYTES = 1 << 62
        parsing._TREE_CACHE.clear()
        inline, _ = timed(lambda: find_calls(RepoView.at(repo, "HEAD"), args.name, use_cache=False))
        search_module.PARALLEL_MIN_BYTES = 0
        parsing._TREE_CACHE.clear()
        pooled, _ = timed(lambda: find_calls(RepoView.at(repo, "HEAD"), args.name, use_cache=False))
    finally:
        search_module.PARALLEL_MIN_BYTES = saved
    print(f"  inline: {inline:.3f} s, process pool: {pooled:.3f} s")

    pattern = args.name + "("
    rg = run_tool(["rg", "-c", "--fixed-strings", "-t", "py", pattern, "."], path, args.repeat)
    if rg is None:
        print("rg: not installed (apt-get install ripgrep)")
    else:
        count = sum(int(line.rsplit(":", 1)[1]) for line in rg[1].splitlines() if ":" in line)
        print(f"rg -c: {rg[0]:.3f} s (best of {args.repeat})  {count} lines containing {pattern!r}")
    sg_bin = shutil.which("ast-grep") or str(Path(sys.executable).parent / "ast-grep")
    sg = run_tool(
        [sg_bin, "run", "-p", f"{args.name}($$$)", "-l", "python", "--json=stream", "."],
        path,
        args.repeat,
    )
    if sg is None:
        print("ast-grep: not installed (pip install ast-grep-cli)")
    else:
        hits = len([line for line in sg[1].splitlines() if line.strip()])
        print(f"ast-grep: {sg[0]:.3f} s (best of {args.repeat})  {hits} matches")
        print(f"cold / ast-grep = {cold / sg[0]:.2f} (goal <= 1.5); warm {warm:.3f} s (goal < 0.5)")


def crossover(view: RepoView, jobs: int) -> None:
    """Inline vs process pool on growing sets of candidate files: where the pool starts to pay."""
    from reviewbot.code import parsing
    from reviewbot.code.calls import CallTarget
    from reviewbot.code.search import parse_and_search

    def run(subset: list[tuple[str, bytes, str]], workers: int) -> float:
        parsing._TREE_CACHE.clear()  # measure parsing, not the in-process tree cache
        return timed(lambda: parse_and_search(subset, target, workers))[0]

    target = CallTarget.parse("os.path.join")
    files = [f for f in view.files() if f.endswith(".py")]
    items = [(view.blob_id(f), view.read_bytes(f), "python") for f in files]
    for n in (8, 16, 32, 64, 128, 256, 512):
        subset = items[:: max(1, len(items) // n)][:n]
        size = sum(len(d) for _, d, _ in subset)
        saved = search_module.PARALLEL_MIN_BYTES
        try:
            search_module.PARALLEL_MIN_BYTES = 1 << 62
            inline = min(run(subset, 1) for _ in range(3))
            search_module.PARALLEL_MIN_BYTES = 0
            pooled = min(run(subset, jobs) for _ in range(3))
        finally:
            search_module.PARALLEL_MIN_BYTES = saved
        print(
            f"  {n:4d} files {size / 1e6:6.2f} MB: "
            f"inline {inline:.3f} s, pool({jobs}) {pooled:.3f} s"
        )


if __name__ == "__main__":
    if "--crossover" in sys.argv:
        sys.argv.remove("--crossover")
        _repo = Repo.open(django_repo("5.1.4"))
        crossover(RepoView.at(_repo, "HEAD"), os.cpu_count() or 2)
    else:
        main()
