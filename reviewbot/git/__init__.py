"""The git layer: repositories, change sets, read-only views, a worktree pool, branch assembly.

The lowest layer: it imports nothing else from reviewbot except ``errors``.
"""

from reviewbot.git.assembly import AssemblyResult, assemble, commit_worktree, delete_branches
from reviewbot.git.changes import WORKTREE, ChangeSet, FileChange, FileStatus, Hunk, SkippedFile
from reviewbot.git.objects import commit_files, set_branch
from reviewbot.git.repo import SHALLOW_FIX, Repo
from reviewbot.git.view import GrepHit, NotTextError, RepoView
from reviewbot.git.worktrees import Worktree, WorktreePool, prune_stale, restore

__all__ = [
    "SHALLOW_FIX",
    "WORKTREE",
    "AssemblyResult",
    "ChangeSet",
    "FileChange",
    "FileStatus",
    "GrepHit",
    "Hunk",
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
