"""The one place that runs the `git` program.

Used only where the CLI is much faster than libgit2 (creating a worktree of a large
repository). Everything else goes through pygit2.
"""

from __future__ import annotations

import shutil
from collections.abc import Mapping
from pathlib import Path

from reviewbot import process
from reviewbot.errors import GitError


def git(cwd: Path, *args: str, extra: Mapping[str, str] | None = None) -> str:
    """Run ``git args`` in ``cwd``; a failure becomes a one-line GitError.

    ``extra``: variables for this one command (a credential for a remote)."""
    exe = shutil.which("git")
    if exe is None:
        raise GitError("the git program is not on PATH; install git")
    # The base environment has no GIT_DIR and friends (set inside git hooks), so git works
    # on ``cwd`` and not on the repository of a hook that started us.
    proc = process.run([exe, *args], cwd=cwd, extra=extra)
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
