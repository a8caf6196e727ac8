"""Benchmark: a rule-tier migration of every `os.path.join(...)` call in Django's source.

Django's sdist (from the registry, cached under bench/.cache) is committed into a fresh
repository; then `harnesses/migrate.py` rewrites every call into `join(...)` with
`from os.path import join` added, through the per-file worktree pipeline with all the
deterministic gates (parse, sites, scope, tests), and assembles one branch.

Prints files per minute, the time spent in worktree handling vs transformation vs gates
(summed over tasks running in parallel), and the peak number of worktrees on disk.

    python bench/migrate.py [--jobs 4]
"""

from __future__ import annotations

import argparse
import os
import shutil
import time
from pathlib import Path

from sdist import committed_repo, git

from reviewbot.config import Config
from reviewbot.harness import builtin_harness, run_harness
from reviewbot.migrate import MigrationResult

VERSION = "5.1.4"


def django_repo() -> Path:
    return committed_repo("django", VERSION, f"migrate-django-{VERSION}-repo")


def fresh_state(repo: Path) -> None:
    """Forget earlier bench runs, so every file is migrated again (no task reuse)."""
    state = repo / ".git" / "reviewbot"
    for name in ("migrate.sqlite", "migrate.sqlite-wal", "migrate.sqlite-shm"):
        (state / name).unlink(missing_ok=True)
    for ref in git(
        repo, "for-each-ref", "--format=%(refname:short)", "refs/heads/reviewbot/"
    ).split():
        git(repo, "branch", "-q", "-D", ref)
    shutil.rmtree(state / "worktrees", ignore_errors=True)
    git(repo, "worktree", "prune")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--jobs", type=int, default=4)
    args = parser.parse_args()
    repo = django_repo()
    fresh_state(repo)
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANTHROPIC_")}
    params = {
        "instruction": "use join from os.path",
        "repo": str(repo),
        "find": "os.path.join",
        "template": "join({args})",
        "imports": ["from os.path import join"],
        "jobs": args.jobs,
    }
    started = time.perf_counter()
    outcome = run_harness(
        builtin_harness("migrate"), params, config=Config(), repo_path=repo, env=env
    )
    wall = time.perf_counter() - started
    result = MigrationResult.model_validate(outcome.result)
    counts = result.counts()
    gates: dict[str, int] = {}
    for f in result.files:
        if f.status == "failed" and f.failed_gate:
            gates[f.failed_gate] = gates.get(f.failed_gate, 0) + 1
    changed = (
        git(repo, "diff", "--name-only", f"{result.base}..{result.branch}").split()
        if counts["migrated"]
        else []
    )
    print(
        f"Django {VERSION}: {result.sites_found} os.path.join sites in {result.files_found} files "
        f"(jobs={args.jobs}, {os.cpu_count()} cores)"
    )
    print(
        f"files: migrated {counts['migrated']} · skipped {counts['skipped']} · "
        f"failed {counts['failed']} {gates or ''} · dropped {counts['dropped']}; "
        f"assembled branch changes {len(changed)} files"
    )
    for f in [f for f in result.files if f.status != "migrated"][:5]:
        print(f"  {f.status} {f.path}: {f.reason} {f.output.strip()[:300]}")
    print(
        f"wall-clock {wall:.1f} s (harness {result.wall_seconds:.1f} s) -> "
        f"{len(result.files) / wall * 60:.0f} files per minute"
    )
    total = sum(result.timings.values())
    print("time by activity (summed over parallel tasks):")
    for name in ("worktree", "transform", "gates", "commit", "assembly"):
        value = result.timings.get(name, 0.0)
        print(f"  {name:<10} {value:7.2f} s  ({value / total * 100 if total else 0:4.1f}%)")
    print(f"peak worktrees on disk: {result.peak_worktrees}")


if __name__ == "__main__":
    main()
