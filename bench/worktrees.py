"""Worktree pool benchmark on Django's source.

Commits Django's sdist (from the package registry) into a fresh repository, then hands out
and returns N worktree checkouts from a pool (each task edits one file), next to creating a
fresh `git worktree add` per task. Half of the pool tasks ask for a second commit, so the
pool also moves worktrees between commits.

    python bench/worktrees.py [--tasks 200] [--size 8] [--fresh 5]

Goals: median checkout under 50 ms after warm-up, median return under 20 ms (a return
reads the paths the task touched from the worktree's inotify watch; the line "returns
from the watch / by a scan" says how many needed a status scan instead).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import anyio
from sdist import committed_repo, git

from reviewbot.git import Repo, Worktree, WorktreePool, prune_stale

VERSION = "5.2.8"


def second_commit(tree: Path) -> None:
    for path in sorted(tree.glob("django/db/models/*.py"))[:20]:
        path.write_text(path.read_text(encoding="utf-8") + "\n# second commit\n")
    git(tree, "commit", "-q", "-am", "second")


def django_repo() -> Path:
    """A repository holding Django's sdist: one base commit and a second touching 20 files."""
    return committed_repo(
        "django", VERSION, f"worktrees-django-{VERSION}-repo", prepare=second_commit
    )


def ms(values: list[float]) -> str:
    values = sorted(values)
    p90 = values[int(len(values) * 0.9) - 1] if len(values) >= 10 else values[-1]
    return (
        f"median {statistics.median(values) * 1000:7.1f} ms   p90 {p90 * 1000:7.1f} ms   "
        f"max {values[-1] * 1000:7.1f} ms   (n={len(values)})"
    )


async def run_tasks(
    pool: WorktreePool, commits: list[str], files: list[str], seen: set[str], label: str
) -> None:
    trees: dict[str, Worktree] = {}
    first_checkouts: list[float] = []
    checkouts: list[float] = []
    releases: list[float] = []
    limiter = anyio.Semaphore(pool.size)

    async def task(i: int) -> None:
        async with limiter:
            start = time.perf_counter()
            async with pool.checkout(commits[i]) as wt:
                handed = time.perf_counter()
                target = wt.path / files[i % len(files)]
                target.write_text(target.read_text(encoding="utf-8") + f"\n# task {i}\n")
                (wt.path / f"scratch-{i}.txt").write_text("untracked output\n")
                before_release = time.perf_counter()
            done = time.perf_counter()
            # a worktree's first hand-out is its creation; every later one is a reuse
            (checkouts if wt.name in seen else first_checkouts).append(handed - start)
            seen.add(wt.name)
            trees[wt.name] = wt
            releases.append(done - before_release)

    start = time.perf_counter()
    async with anyio.create_task_group() as tg:
        for i in range(len(commits)):
            tg.start_soon(task, i)
    total = time.perf_counter() - start
    print(f"{label}: {len(commits)} tasks, wall time {total:.1f} s")
    if first_checkouts:
        print(f"  first hand-out per tree  : {ms(first_checkouts)}")
    print(f"  checkout after warm-up   : {ms(checkouts)}")
    print(f"  return (restore)         : {ms(releases)}")
    watched = sum(wt.restores["watch"] for wt in trees.values())
    scanned = sum(wt.restores["scan"] for wt in trees.values())
    print(f"  returns from the watch / by a scan (these trees, all runs): {watched} / {scanned}")


async def bench_pool(repo: Repo, tasks: int, size: int, files: list[str]) -> None:
    base, second = repo.resolve("HEAD~1"), repo.resolve("HEAD")
    seen: set[str] = set()
    start = time.perf_counter()
    pool = WorktreePool(repo, size=size)
    if pool.pruned:
        print(f"  pruned {len(pool.pruned)} worktrees left by an earlier, interrupted run")
    async with pool:
        await run_tasks(pool, [base] * tasks, files, seen, f"pool of {size}, one commit")
        mixed = [base if i % 2 else second for i in range(tasks)]
        await run_tasks(pool, mixed, files, seen, f"pool of {size}, two commits alternating")
        created = pool.created
        closing = time.perf_counter()
    print(
        f"  {created} worktrees created in all; close (park) {time.perf_counter() - closing:.2f} s,"
        f" total {time.perf_counter() - start:.1f} s"
    )
    # The next run adopts the parked worktrees instead of creating new ones.
    start = time.perf_counter()
    async with WorktreePool(repo, size=size) as pool:
        opened = time.perf_counter() - start
        await run_tasks(pool, [base] * size * 4, files, set(), "next run, adopting parked")
        print(
            f"  adopted {pool.adopted}, created {pool.created}; pool start {opened * 1000:.0f} ms"
        )
    start = time.perf_counter()
    removed = await anyio.to_thread.run_sync(lambda: prune_stale(repo, parked=True))
    print(f"  removing {len(removed)} parked worktrees: {time.perf_counter() - start:.1f} s")


def bench_fresh(root: Path, samples: int, files: list[str]) -> None:
    adds: list[float] = []
    removes: list[float] = []
    base = git(root, "rev-parse", "HEAD~1")
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(samples):
            path = Path(tmp) / f"fresh-{i}"
            start = time.perf_counter()
            git(root, "worktree", "add", "--detach", "-q", str(path), base)
            adds.append(time.perf_counter() - start)
            target = path / files[i % len(files)]
            target.write_text(target.read_text(encoding="utf-8") + "\n# fresh\n")
            start = time.perf_counter()
            git(root, "worktree", "remove", "--force", str(path))
            removes.append(time.perf_counter() - start)
    print(f"fresh `git worktree add` per task, {samples} samples")
    print(f"  add                      : {ms(adds)}")
    print(f"  remove                   : {ms(removes)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=200)
    parser.add_argument("--size", type=int, default=8)
    parser.add_argument("--fresh", type=int, default=5, help="samples of the fresh-add baseline")
    args = parser.parse_args()
    root = django_repo()
    repo = Repo.open(root)
    files = [p for p in repo.tracked_files() if p.startswith("django/") and p.endswith(".py")]
    print(f"Django {VERSION}: {len(repo.tracked_files())} tracked files, {os.cpu_count()} cores")
    anyio.run(bench_pool, repo, args.tasks, args.size, files)
    bench_fresh(root, args.fresh, files)
    leftovers = list((repo.git_dir / "reviewbot" / "worktrees").iterdir())
    if leftovers:
        shutil.rmtree(repo.git_dir / "reviewbot" / "worktrees")
        raise SystemExit(f"pool left {len(leftovers)} entries behind")


if __name__ == "__main__":
    main()
