"""A distributed migration on one machine: a generated repository published on a bare
remote, clones around it, and ``reviewbot worker`` processes (for tests and benchmarks).

Every git command and process goes through :mod:`reviewbot.process`.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from reviewbot import process
from reviewbot.testing.temporal_server import DevServer

# `reviewbot migrate` options of a rule: os.path.join(...) -> join(...), adding the import
JOIN = ("--find", "os.path.join", "--rewrite", "join({args})",
        "--add-import", "from os.path import join")


def git(cwd: Path, *args: str) -> str:
    proc = process.run(["git", *args], cwd=cwd)
    if proc.returncode != 0:
        raise RuntimeError(f"git {' '.join(args)}: {proc.stderr.strip()}")
    return proc.stdout.strip()


def commit_all(path: Path) -> None:
    git(path, "add", "-A")
    git(path, "commit", "-q", "-m", "generated")


def generate(path: Path, files: int, every: int = 3) -> None:
    """A Python repository of ``files`` modules in 50 packages; every ``every``-th calls
    os.path.join (every fourth of those twice more, one call nested in another)."""
    path.mkdir(parents=True)
    git(path, "init", "-q", "-b", "main")
    for i in range(files):
        rel = path / f"pkg{i % 50}" / f"mod{i}.py"
        rel.parent.mkdir(exist_ok=True)
        if i % every == 0:
            body = f"import os\n\n\ndef f{i}(p):\n    return os.path.join(p, 'x{i}')\n"
            if i % (every * 4) == 0:
                body += f"\n\ndef g{i}(p):\n    return os.path.join(p, os.path.join('a', 'b'))\n"
        else:
            body = f"def f{i}(p):\n    return p + '{i}'\n"
        rel.write_text(body)
    commit_all(path)


class SharedRemote:
    """A generated repository pushed to ``remote.git``, clones of it, and worker processes."""

    def __init__(self, root: Path, files: int,
                 make: Callable[[Path, int], None] = generate) -> None:
        self.root = root
        self.source = root / "source"
        make(self.source, files)
        self.remote = root / "remote.git"
        git(root, "init", "-q", "--bare", "-b", "main", str(self.remote))
        git(self.source, "push", "-q", str(self.remote), "main")
        self.user = self.clone("user")
        self.workers: list[subprocess.Popen[bytes]] = []

    def clone(self, name: str) -> Path:
        target = self.root / name
        git(self.root, "clone", "-q", str(self.remote), str(target))
        return target

    def start_worker(self, server: DevServer, name: str, *, queue: str, jobs: int = 2,
                     extra: Mapping[str, str] | None = None) -> subprocess.Popen[bytes]:
        """``reviewbot worker`` in the clone ``name`` (made if missing); output in name.log."""
        clone = self.root / name
        if not clone.exists():
            self.clone(name)
        proc = process.start(
            [sys.executable, "-m", "reviewbot", "worker", "--temporal", server.address,
             "--task-queue", queue, "--jobs", str(jobs), "--repo", str(clone)],
            cwd=clone, extra=extra, log=self.root / f"{name}.log",
        )
        self.workers.append(proc)
        return proc

    def migrate_argv(self, server: DevServer, queue: str, *more: str,
                     instruction: str = "use join", rule: Sequence[str] = JOIN) -> list[str]:
        return [sys.executable, "-m", "reviewbot", "migrate", instruction, *rule,
                "--engine", "temporal", "--temporal", server.address, "--task-queue", queue,
                "--repo", str(self.user), "--format", "json", *more]

    def stop(self) -> None:
        """Kill every worker still running (their process groups)."""
        for proc in self.workers:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        self.workers.clear()
