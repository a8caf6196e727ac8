"""Branch assembly: commit a worktree's changes on a task branch, then combine task commits
onto one target branch with tree-level merges (no work tree involved)."""

from __future__ import annotations

import os
import stat
from collections.abc import Mapping, Sequence
from pathlib import Path

import pygit2
from pydantic import BaseModel, Field

from reviewbot.errors import GitError
from reviewbot.git.gitcli import status as git_status
from reviewbot.git.objects import (
    Identity,
    commit_tree,
    parent_dirs,
    signed,
    tree_changes,
    tree_with,
)
from reviewbot.git.repo import Repo
from reviewbot.git.worktrees import Worktree


class AssemblyResult(BaseModel):
    branch: str
    base: str
    head: str  # sha the target branch points at
    merged: list[str] = Field(default_factory=list)  # task names, in order
    conflicts: dict[str, list[str]] = Field(default_factory=dict)  # task name -> conflicting paths


def _entry(repository: pygit2.Repository, root: Path, path: str) -> pygit2.IndexEntry | None:
    """An index entry for the file at ``path`` as it is on disk (None when it is gone)."""
    target = root / path
    try:
        info = target.lstat()
    except FileNotFoundError:
        return None
    if stat.S_ISLNK(info.st_mode):
        oid = repository.create_blob(os.readlink(target).encode("utf-8"))
        return pygit2.IndexEntry(path, oid, pygit2.enums.FileMode.LINK)
    if not stat.S_ISREG(info.st_mode):
        return None
    oid = repository.create_blob_fromdisk(str(target))
    executable = info.st_mode & stat.S_IXUSR
    mode = pygit2.enums.FileMode.BLOB_EXECUTABLE if executable else pygit2.enums.FileMode.BLOB
    return pygit2.IndexEntry(path, oid, mode)


def commit_worktree(
    wt: Worktree,
    message: str,
    branch: str,
    paths: Sequence[str] | None = None,
    identity: Identity | None = None,
) -> str | None:
    """Commit what changed in ``wt`` on ``refs/heads/<branch>`` with parent ``wt.commit``;
    None when nothing changed.

    ``paths`` limits the commit to those files (as they are on disk, or deleted when gone):
    anything else in the worktree, such as what a verify command built, stays out. Without
    it, every change is committed (tracked edits, deletions, new non-ignored files).
    The worktree's own index and HEAD are left alone (the pool restores files on release).
    ``identity``: see :func:`reviewbot.git.objects.commit_tree`.
    """
    w = wt.repository
    head = w[wt.commit].peel(pygit2.Commit)
    index = pygit2.Index()
    index.read_tree(head.tree)
    if paths is None:
        todo = [path for path, code in git_status(wt.path).items() if code != "!!"]
    else:
        todo = list(dict.fromkeys(paths))
    for path in todo:
        entry = _entry(w, wt.path, path)
        if entry is None:
            if path in index:
                index.remove(path)
        else:
            index.add(entry)
    return commit_tree(w, head, index.write_tree(w), message, branch, identity)


def _checked_out_branches(repo: Repo) -> set[str]:
    names = set()
    for repository in (repo.main, repo.pygit2):
        if not repository.head_is_detached and not repository.head_is_unborn:
            names.add(repository.head.name)
    return names


class _Touched:
    """Paths changed since the base, and their directories: a change elsewhere cannot
    conflict with them (a file and a directory of the same name count as the same path)."""

    def __init__(self) -> None:
        self.paths: set[str] = set()
        self.dirs: set[str] = set()

    def reset(self, changes: Mapping[str, object]) -> None:
        self.paths.clear()
        self.dirs.clear()
        self.add(changes)

    def add(self, changes: Mapping[str, object]) -> None:
        for path in changes:
            self.paths.add(path)
            self.dirs.update(parent_dirs(path))

    def overlaps(self, changes: Mapping[str, object]) -> bool:
        return any(
            path in self.paths or path in self.dirs or not self.paths.isdisjoint(parent_dirs(path))
            for path in changes
        )


def assemble(
    repo: Repo,
    base: str,
    commits: Sequence[tuple[str, str]],
    target_branch: str,
    identity: Identity | None = None,
) -> AssemblyResult:
    """Combine task commits onto ``base`` in order and point ``target_branch`` at the result.

    Each task is merged at tree level against what is assembled so far; a task whose merge
    conflicts is left out and its conflicting paths are reported, the others still land.
    History is linear: one commit per task (a fast-forward when nothing came before it).
    Each keeps its task commit's author; ``identity`` commits them dated at the base (the
    same task commits in the same order: the same branch head on any machine), None as the
    configured user, now.
    """
    refname = f"refs/heads/{target_branch}"
    with repo.lock:
        checked_out = _checked_out_branches(repo)
    if refname in checked_out:
        raise GitError(
            f"branch {target_branch} is checked out in your working tree; "
            "pick another target branch"
        )
    base_sha = repo.resolve(base)
    task_shas = [(task, repo.resolve(sha)) for task, sha in commits]
    # A private repository object: merges can take a while and must not hold `repo.lock`.
    main = pygit2.Repository(str(repo.git_dir))
    base_oid = pygit2.Oid(hex=base_sha)
    current = base_oid
    committer = signed(main, identity, main[base_sha].peel(pygit2.Commit))
    result = AssemblyResult(branch=target_branch, base=base_sha, head=base_sha)
    base_tree = main[base_sha].peel(pygit2.Tree)
    assembled = _Touched()  # the paths the assembled commits changed since the base
    for task, sha in task_shas:
        theirs = main[sha].peel(pygit2.Commit)
        if theirs.parent_ids == [base_oid] and current != base_oid:
            # A task commit made on the base: when it changes none of the paths assembled so
            # far, a three-way merge would only add its changes, so they are put in directly
            # (trees along its paths) instead of merging two whole trees.
            changes = tree_changes(main, base_tree, theirs.tree)
            if not assembled.overlaps(changes):
                tree = tree_with(main, main[current].peel(pygit2.Tree), changes)
                current = main.create_commit(
                    None, theirs.author, committer, theirs.message, tree, [current]
                )
                assembled.add(changes)
                result.merged.append(task)
                continue
        ancestor = main.merge_base(current, theirs.id)
        if ancestor == theirs.id:  # already contained
            result.merged.append(task)
            continue
        if ancestor == current:
            current = theirs.id
            assembled.reset(tree_changes(main, base_tree, theirs.tree))
            result.merged.append(task)
            continue
        index = main.merge_commits(current, theirs.id)
        if index.conflicts is not None:
            paths = set()
            for ancestor_entry, ours_entry, theirs_entry in index.conflicts:
                for entry in (ancestor_entry, ours_entry, theirs_entry):
                    if entry is not None:
                        paths.add(entry.path)
            result.conflicts[task] = sorted(paths)
            continue
        tree = index.write_tree(main)
        current = main.create_commit(
            None, theirs.author, committer, theirs.message, tree, [current]
        )
        assembled.reset(tree_changes(main, base_tree, main[tree].peel(pygit2.Tree)))
        result.merged.append(task)
    main.references.create(refname, current, force=True)
    result.head = str(current)
    return result


def delete_branches(repo: Repo, names: Sequence[str]) -> list[str]:
    """Delete the local branches ``names`` that exist (never one checked out anywhere);
    returns those deleted. Their commits stay in the object store until git's gc prunes them."""
    deleted: list[str] = []
    with repo.lock:
        checked_out = _checked_out_branches(repo)
        for name in names:
            refname = f"refs/heads/{name}"
            if refname in checked_out:
                continue
            try:
                repo.main.references.delete(refname)
            except KeyError:
                continue  # never created (nothing to commit), or already gone
            deleted.append(name)
    return deleted
