"""The git layer: repositories, change sets, read-only views, a worktree pool, branch assembly.

The lowest layer: it imports nothing else from reviewbot except ``errors`` (and ``lazy``).
Names are imported on first use (PEP 562): a command that only opens the repository does
not pay for the worktree pool, assembly and diff parsing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from reviewbot.lazy import lazy_exports

_WHERE = {
    "AssemblyResult": "assembly",
    "assemble": "assembly",
    "commit_worktree": "assembly",
    "delete_branches": "assembly",
    "WORKTREE": "changes",
    "ChangeSet": "changes",
    "FileChange": "changes",
    "FileStatus": "changes",
    "Hunk": "changes",
    "SkippedFile": "changes",
    "Identity": "objects",
    "commit_files": "objects",
    "set_branch": "objects",
    "SHALLOW_FIX": "repo",
    "Repo": "repo",
    "GrepHit": "view",
    "NotTextError": "view",
    "RepoView": "view",
    "Worktree": "worktrees",
    "WorktreePool": "worktrees",
    "prune_stale": "worktrees",
    "restore": "worktrees",
}

__all__ = [
    "SHALLOW_FIX",
    "WORKTREE",
    "AssemblyResult",
    "ChangeSet",
    "FileChange",
    "FileStatus",
    "GrepHit",
    "Hunk",
    "Identity",
    "NotTextError",
    "Repo",
    "RepoView",
    "SkippedFile",
    "Worktree",
    "WorktreePool",
    "assemble",
    "commit_files",
    "commit_worktree",
    "delete_branches",
    "prune_stale",
    "restore",
    "set_branch",
]

if TYPE_CHECKING:
    from reviewbot.git.assembly import AssemblyResult, assemble, commit_worktree, delete_branches
    from reviewbot.git.changes import (
        WORKTREE,
        ChangeSet,
        FileChange,
        FileStatus,
        Hunk,
        SkippedFile,
    )
    from reviewbot.git.objects import Identity, commit_files, set_branch
    from reviewbot.git.repo import SHALLOW_FIX, Repo
    from reviewbot.git.view import GrepHit, NotTextError, RepoView
    from reviewbot.git.worktrees import Worktree, WorktreePool, prune_stale, restore


__getattr__ = lazy_exports(__name__, _WHERE)
