"""Benchmark: a rule-tier migration of every `os.path.join(...)` call in Django's source.

Django's sdist (from the registry, cached under bench/.cache) is committed into a fresh
repository; then `harnesses/migrate.py` rewrites every call into `join(...)` with
`from os.path import join` added, with all the deterministic gates (parse, sites, scope,
tests), and assembles one branch. Four runs, side by side:

1. the rule tier through worktrees (`migrate.rules_in_worktrees = true`; it creates the
   pool's worktrees, which the later runs adopt),
2. the rule tier in memory (the default: blobs, gates and commits straight on git objects):
   its branch must be the same tree as run 1's,
3. with `--verify "python -c pass"`: worktrees only for the verify command,
4. ast-grep's in-place rewrite of the same pattern in one checkout (no isolation, no gates,
   no imports, no commits): the speed reference, as a ratio of wall-clock times.

Prints files per minute of each run, the time by activity (summed over tasks running in
parallel) and the machine's load, since the numbers move with it.

    python bench/migrate.py [--jobs 4] [--skip-worktrees] [--repeat 3]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

from sdist import committed_repo, git

from reviewbot.config import Config
from reviewbot.harness import builtin_harness, run_harness
from reviewbot.migrate import MigrationResult

VERSION = "5.2.8"
PATTERN = ("os.path.join($$$ARGS)", "join($$$ARGS)")


def django_repo() -> Path:
    return committed_repo("django", VERSION, f"migrate-django-{VERSION}-repo")


def fresh_state(repo: Path, *, worktrees: bool = False) -> None:
    """Forget earlier bench runs, so every file is migrated again (no task reuse).

    The pool's parked worktrees stay (a run adopts them, as every run after a repository's
    first does) unless ``worktrees``."""
    state = repo / ".git" / "reviewbot"
    for name in ("migrate.sqlite", "migrate.sqlite-wal", "migrate.sqlite-shm"):
        (state / name).unlink(missing_ok=True)
    for ref in git(
        repo, "for-each-ref", "--format=%(refname:short)", "refs/heads/reviewbot/"
    ).split():
        git(repo, "branch", "-q", "-D", ref)
    if worktrees:
        shutil.rmtree(state / "worktrees", ignore_errors=True)
        git(repo, "worktree", "prune")


def migrate(
    repo: Path, jobs: int, branch: str, *, worktrees: bool = False, verify: str | None = None
) -> tuple[MigrationResult, float]:
    fresh_state(repo)
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANTHROPIC_")}
    params = {
        "instruction": "use join from os.path",
        "repo": str(repo),
        "find": "os.path.join",
        "template": "join({args})",
        "imports": ["from os.path import join"],
        "jobs": jobs,
        "branch": branch,
    }
    if verify is not None:
        params["verify"] = verify
    config = Config.model_validate({"migrate": {"rules_in_worktrees": worktrees}})
    started = time.perf_counter()
    outcome = run_harness(
        builtin_harness("migrate"), params, config=config, repo_path=repo, env=env
    )
    wall = time.perf_counter() - started
    return MigrationResult.model_validate(outcome.result), wall


def report(label: str, repo: Path, result: MigrationResult, wall: float) -> None:
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
    print(f"{label}:")
    print(
        f"  files: migrated {counts['migrated']} · skipped {counts['skipped']} · "
        f"failed {counts['failed']} {gates or ''} · dropped {counts['dropped']}; "
        f"assembled branch changes {len(changed)} files"
    )
    for f in [f for f in result.files if f.status != "migrated"][:3]:
        print(f"    {f.status} {f.path}: {f.reason} {f.output.strip()[:200]}")
    print(
        f"  wall-clock {wall:.2f} s (harness {result.wall_seconds:.2f} s) -> "
        f"{len(result.files) / wall * 60:.0f} files per minute"
    )
    total = sum(result.timings.values())
    parts = " · ".join(
        f"{name} {result.timings.get(name, 0.0):.2f} s"
        f" ({result.timings.get(name, 0.0) / total * 100 if total else 0:.0f}%)"
        for name in ("worktree", "transform", "gates", "commit", "verify", "assembly")
        if name in result.timings
    )
    print(f"  time by activity (summed over parallel tasks): {parts}")
    print(f"  peak worktrees on disk: {result.peak_worktrees}")


def ast_grep(repo: Path) -> tuple[float, int]:
    """(wall-clock seconds, files changed) of ast-grep rewriting the pattern in place in a
    fresh checkout of the base."""
    exe = shutil.which("ast-grep")
    if exe is None:
        raise SystemExit("ast-grep is not installed: pip install ast-grep-cli")
    with tempfile.TemporaryDirectory() as tmp:
        checkout = Path(tmp) / "tree"
        git(repo, "worktree", "add", "-q", "--detach", str(checkout), "main")
        try:
            started = time.perf_counter()
            subprocess.run(
                [exe, "run", "-l", "python", "-p", PATTERN[0], "-r", PATTERN[1], "-U", "."],
                cwd=checkout,
                check=True,
                capture_output=True,
            )
            wall = time.perf_counter() - started
            changed = len(git(checkout, "diff", "--name-only").split())
        finally:
            git(repo, "worktree", "remove", "--force", str(checkout))
    return wall, changed


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--jobs", type=int, default=4)
    parser.add_argument(
        "--skip-worktrees", action="store_true", help="no run through worktrees (faster)"
    )
    parser.add_argument(
        "--repeat",
        type=int,
        default=3,
        help="in-memory and ast-grep runs, alternated; medians are compared (a shared "
        "machine's load moves single runs by 2x)",
    )
    args = parser.parse_args()
    repo = django_repo()
    fresh_state(repo, worktrees=True)
    print(
        f"Django {VERSION}, os.path.join -> join with the import added (jobs={args.jobs}, "
        f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} at the start)"
    )
    if not args.skip_worktrees:
        through, through_wall = migrate(repo, args.jobs, "bench/through-worktrees", worktrees=True)
        report("rule tier through worktrees", repo, through, through_wall)
        through_tree = git(repo, "rev-parse", f"{through.branch}^{{tree}}")
    memory_walls: list[float] = []
    grep_walls: list[float] = []
    for _ in range(max(1, args.repeat)):
        memory, wall = migrate(repo, args.jobs, "bench/in-memory")
        memory_walls.append(wall)
        grep_wall, grep_changed = ast_grep(repo)
        grep_walls.append(grep_wall)
    memory_wall, grep_wall = statistics.median(memory_walls), statistics.median(grep_walls)
    print(f"{memory.sites_found} sites in {memory.files_found} files")
    report(f"rule tier in memory (median of {len(memory_walls)})", repo, memory, memory_wall)
    print(f"  runs: {', '.join(f'{w:.2f}' for w in memory_walls)} s")
    if not args.skip_worktrees:
        same = git(repo, "rev-parse", f"{memory.branch}^{{tree}}") == through_tree
        print(f"  result branch identical to the worktree run's (same tree): {same}")
    verified, verified_wall = migrate(repo, args.jobs, "bench/verified", verify="python -c pass")
    report('rule tier with --verify "python -c pass"', repo, verified, verified_wall)
    print(
        f"ast-grep in place (unisolated, no gates, no imports; median of {len(grep_walls)}): "
        f"{grep_wall:.2f} s ({', '.join(f'{w:.2f}' for w in grep_walls)}), {grep_changed} "
        f"files changed -> {grep_changed / grep_wall * 60:.0f} files per minute"
    )
    print(
        f"ratio of wall-clock times to ast-grep: in memory {memory_wall / grep_wall:.2f}x, "
        f"with --verify {verified_wall / grep_wall:.2f}x"
        + (
            f", through worktrees {through_wall / grep_wall:.2f}x"
            if not args.skip_worktrees
            else ""
        )
    )
    print(f"load average at the end: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
