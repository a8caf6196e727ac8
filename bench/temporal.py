"""Benchmark: the distributed engine against local mode on one generated repository.

A repository of N Python modules (every third calls `os.path.join`) is published on a bare
remote; the same rule-tier migration runs (1) in local mode, (2) on Temporal with one
worker, (3) with two workers, each worker a `reviewbot worker --jobs J` process in its own
clone, all against one dev server. `--verify-seconds S` adds a `--verify` command that
sleeps S seconds in each task's worktree: the I/O-bound kind of task (tests, builds on
other machines) where more workers help even on a small machine.

Prints files/min for each, the overhead per file of the distributed engine against local
mode, and a projection of throughput with more workers from the measured per-file cost.
On a machine with few cores the workers, the dev server and the client share them: read
the two-worker figure with that in mind.

    python bench/temporal.py [--files 3000] [--jobs 2] [--verify-seconds 0]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

from reviewbot import process
from reviewbot.testing.distributed import JOIN, SharedRemote, git
from reviewbot.testing.temporal_server import DevServer


def timed(argv: list[str], cwd: Path) -> tuple[float, dict]:
    start = time.perf_counter()
    proc = process.run(argv, cwd=cwd, timeout=7200)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        sys.exit(f"{' '.join(argv[:6])}... failed ({proc.returncode}):\n{proc.stderr[-2000:]}")
    return elapsed, json.loads(proc.stdout)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--files", type=int, default=3000, help="modules in the repository")
    parser.add_argument("--jobs", type=int, default=2, help="batches per worker, local --jobs")
    parser.add_argument("--batch-size", type=int, default=25)
    parser.add_argument("--verify-seconds", type=float, default=0.0)
    args = parser.parse_args()
    verify = ["--verify", f"python -c 'import time; time.sleep({args.verify_seconds})'"] \
        if args.verify_seconds > 0 else []
    root = Path(tempfile.mkdtemp(prefix="bench-temporal-"))
    print(f"cpus: {os.cpu_count()}; repository: {args.files} modules under {root}")
    shared = SharedRemote(root, args.files)
    rows: list[tuple[str, float, int]] = []

    local = shared.clone("local")
    seconds, data = timed([sys.executable, "-m", "reviewbot", "migrate", "use join", *JOIN,
                           "--repo", str(local), "--format", "json", "--quiet",
                           "--jobs", str(args.jobs), *verify], local)
    files = len(data["files"])
    tree = git(local, "rev-parse", f"{data['branch']}^{{tree}}")
    rows.append(("local", seconds, files))

    with DevServer(root, db=root / "temporal.sqlite") as server:
        for workers in (1, 2):
            queue = f"bench-{workers}"
            user = shared.clone(f"user-{workers}")
            for n in range(workers):
                shared.start_worker(server, f"w{workers}-{n}", queue=queue, jobs=args.jobs)
            try:
                # a fresh instruction per run: a new workflow id, and no task reused
                argv = shared.migrate_argv(server, queue, "--batch-size", str(args.batch_size),
                                           "--max-in-flight", str(2 * args.jobs * workers),
                                           *verify, instruction=f"use join ({workers})")
                argv[argv.index("--repo") + 1] = str(user)
                seconds, data = timed(argv, user)
            finally:
                shared.stop()
            same = git(user, "rev-parse", f"{data['branch']}^{{tree}}") == tree
            rows.append((f"temporal, {workers} worker{'s' if workers > 1 else ''}"
                         f"{'' if same else ' (TREE DIFFERS)'}", seconds, len(data["files"])))

    print(f"{'engine':<28}{'files':>7}{'seconds':>10}{'files/min':>11}")
    for name, seconds, n in rows:
        print(f"{name:<28}{n:>7}{seconds:>10.1f}{n / seconds * 60:>11.0f}")
    local_s, one_s, two_s = (r[1] for r in rows)
    per_file_local = local_s / files
    per_file_one = one_s / files
    print(f"overhead per file, one worker vs local: {(per_file_one - per_file_local) * 1000:.1f} ms"
          f" ({per_file_one * 1000:.1f} ms vs {per_file_local * 1000:.1f} ms per file)")
    print(f"two workers vs one: x{one_s / two_s:.2f} on {os.cpu_count()} cores shared by both "
          "workers, the dev server and the client")
    for n in (4, 8, 16):
        print(f"projected with {n} workers on machines of their own: "
              f"~{n * files / one_s * 60:.0f} files/min (per-worker cost x {n}; the workflow "
              "and the remote are not the limit below a few hundred batches in flight)")


if __name__ == "__main__":
    main()
