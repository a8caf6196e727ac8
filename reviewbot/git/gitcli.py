"""The one place that runs the `git` program.

Used only where the CLI is much faster than libgit2 (creating a worktree of a large
repository). Everything else goes through pygit2.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from reviewbot.errors import GitError

# Variables that would redirect git to another repository, index or work tree (set, for
# example, when reviewbot runs inside a git hook).
_REDIRECTING = (
    "GIT_DIR",
    "GIT_WORK_TREE",
    "GIT_INDEX_FILE",
    "GIT_OBJECT_DIRECTORY",
    "GIT_ALTERNATE_OBJECT_DIRECTORIES",
    "GIT_COMMON_DIR",
    "GIT_NAMESPACE",
)


def git(cwd: Path, *args: str) -> str:
    """Run ``git args`` in ``cwd``; a failure becomes a one-line GitError."""
    exe = shutil.which("git")
    if exe is None:
        raise GitError("the git program is not on PATH; install git")
    env = {k: v for k, v in os.environ.items() if k not in _REDIRECTING}
    proc = subprocess.run(
        [exe, *args], cwd=cwd, env=env, capture_output=True, text=True, check=False
    )
    if proc.returncode != 0:
        detail = (proc.stderr.strip().splitlines() or ["no message"])[-1]
        raise GitError(f"git {args[0]} failed: {detail}")
    return proc.stdout


def status(worktree: Path) -> dict[str, str]:
    """``git status`` of a work tree: path -> two-letter porcelain code.

    ``??`` is untracked, ``!!`` ignored (a path ending in ``/`` is a whole directory); any
    other code is a tracked path that differs from HEAD in the index or the work tree.
    pygit2's status keeps the GIL for the whole scan, which would stall the event loop;
    a subprocess does not (and git's scan is parallel).
    """
    out = git(
        worktree,
        "status",
        "--porcelain=v1",
        "-z",
        "--untracked-files=all",
        "--ignored",
        "--no-renames",
    )
    result: dict[str, str] = {}
    for entry in out.split("\0"):
        if len(entry) > 3:
            result[entry[3:]] = entry[:2]
    return result
