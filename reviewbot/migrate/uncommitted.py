"""Uncommitted edits a migration from HEAD leaves out.

A migration reads its files from a commit, never from the working tree. When that commit
is the checked-out HEAD and a file with sites has uncommitted edits, those edits are not
on the result branch: the user is told in one line which files, and how to include them.
"""

from __future__ import annotations

from collections.abc import Iterable

from reviewbot.errors import GitError
from reviewbot.git import Repo
from reviewbot.git.gitcli import status


def uncommitted_site_files(repo: Repo, base: str, paths: Iterable[str]) -> list[str]:
    """Those of ``paths`` with staged or unstaged edits in the working tree, when ``base``
    is the checked-out HEAD commit (otherwise the working tree is not what was asked for)."""
    try:
        if repo.resolve(base) != repo.head_sha():  # a Repo is never bare
            return []
        changed = status(repo.root)
    except GitError:
        return []
    return sorted({p for p in paths if changed.get(p, "??") not in ("??", "!!")})


def uncommitted_warning(files: list[str], base: str = "HEAD") -> str | None:
    """The one-line warning for ``files`` (None when there are none)."""
    if not files:
        return None
    shown = ", ".join(files[:10]) + (f" and {len(files) - 10} more" if len(files) > 10 else "")
    return (
        f"warning: uncommitted edits to {len(files)} file(s) with sites are not included "
        f"(the migration reads {base} as committed): {shown}; "
        "to include them, commit them (git commit) and run again"
    )
