"""The change under review: which base and head, the change set and read-only views.

Defaults follow the CLI: the current branch (with uncommitted changes) against its
merge-base with the default branch.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from reviewbot.git import WORKTREE, ChangeSet, FileChange, FileStatus, Repo, RepoView
from reviewbot.git import SkippedFile as GitSkippedFile
from reviewbot.review.findings import Coverage, SkippedFile


@dataclass
class ReviewTarget:
    repo: Repo
    changes: ChangeSet
    base_view: RepoView
    head_view: RepoView

    @property
    def base(self) -> str:
        return self.changes.base

    @property
    def head(self) -> str:
        return self.changes.head

    @property
    def reviewable(self) -> list[FileChange]:
        return [c for c in self.changes.files if c.status != FileStatus.DELETED]

    def coverage(self) -> Coverage:
        return Coverage(
            reviewed=[c.path for c in self.reviewable],
            skipped=[SkippedFile(path=s.path, reason=s.reason) for s in self.changes.skipped],
        )

    def view_at(self, ref: str) -> tuple[str, RepoView]:
        """The commit ``ref`` names and a read-only view of it (empty ``ref``: the base)."""
        sha = self.repo.resolve(ref) if ref else self.base
        return sha, (self.base_view if sha == self.base else RepoView.at(self.repo, sha))

    def stat(self) -> str:
        rows = [f"{c.status.value:<9} {c.path} (+{len(c.added_lines)} -{len(c.removed_lines)})"
                for c in self.changes.files]
        return "\n".join(rows) or "(no changes)"


def open_target(
    path: str | Path,
    *,
    base: str | None = None,
    head: str | None = None,
    uncommitted: bool = True,
    max_file_bytes: int = 1_000_000,
) -> ReviewTarget:
    """Resolve refs and compute the change; git problems raise a one-line ``GitError``."""
    repo = Repo.open(path)
    if head:
        head_ref = repo.resolve(head)
    else:
        head_ref = WORKTREE if uncommitted else repo.head_sha()
    base_ref = repo.resolve(base) if base else repo.default_base(
        "HEAD" if head_ref == WORKTREE else head_ref
    )
    changes = ChangeSet.between(repo, base_ref, head_ref, max_file_bytes=max_file_bytes)
    head_view = RepoView.working_tree(repo) if head_ref == WORKTREE else RepoView.at(repo, head_ref)
    return ReviewTarget(repo=repo, changes=changes, base_view=RepoView.at(repo, changes.base),
                        head_view=head_view)


def without_ignored(target: ReviewTarget, ignored: Callable[[str], str | None]) -> ReviewTarget:
    """The target without the files an ``ignore`` glob excludes; they show as skipped."""
    kept, skipped = [], list(target.changes.skipped)
    for change in target.changes.files:
        glob = ignored(change.path)
        if glob is None:
            kept.append(change)
        else:
            skipped.append(GitSkippedFile(path=change.path,
                                          reason=f"not reviewed: matches review.ignore {glob!r}"))
    if len(kept) == len(target.changes.files):
        return target
    changes = target.changes.model_copy(update={"files": kept, "skipped": skipped})
    return replace(target, changes=changes)
