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
    "delete_branch": "objects",
    "set_branch": "objects",
    "FilePatch": "plain",
    "PlainRepo": "plain",
    "TokenCredentials": "plain",
    "SHALLOW_FIX": "repo",
    "Repo": "repo",
    "shared_git_dir": "repo",
    "working_tree_root": "repo",
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
    "FilePatch",
    "FileStatus",
    "GrepHit",
    "Hunk",
    "Identity",
    "NotTextError",
    "PlainRepo",
    "Repo",
    "RepoView",
    "SkippedFile",
    "TokenCredentials",
    "Worktree",
    "WorktreePool",
    "assemble",
    "commit_files",
    "commit_worktree",
    "delete_branch",
    "delete_branches",
    "prune_stale",
    "restore",
    "set_branch",
    "shared_git_dir",
    "working_tree_root",
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
    from reviewbot.git.objects import Identity, commit_files, delete_branch, set_branch
    from reviewbot.git.plain import FilePatch, PlainRepo, TokenCredentials
    from reviewbot.git.repo import SHALLOW_FIX, Repo, shared_git_dir, working_tree_root
    from reviewbot.git.view import GrepHit, NotTextError, RepoView
    from reviewbot.git.worktrees import Worktree, WorktreePool, prune_stale, restore


__getattr__ = lazy_exports(__name__, _WHERE)
