"""Commits built straight in the object store: new file contents onto a parent commit.

A deterministic rewrite needs no checkout: its blobs, the trees above them and the commit
are written with pygit2 and nothing on disk is touched, so there is nothing to isolate and
nothing to restore. Only the trees on the changed paths are rebuilt (a tree per directory
level), so a commit costs the same on a 7k-file repository as on a tiny one.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import pygit2

from reviewbot.git.repo import Repo

_FALLBACK_SIGNATURE = ("reviewbot", "reviewbot@localhost")
_TREE = int(pygit2.enums.FileMode.TREE)
_BLOB = int(pygit2.enums.FileMode.BLOB)
_BLOB_EXECUTABLE = int(pygit2.enums.FileMode.BLOB_EXECUTABLE)


def parent_dirs(path: str) -> list[str]:
    """``a/b/c.py`` -> ``["a", "a/b"]``."""
    parts = path.split("/")[:-1]
    return ["/".join(parts[: i + 1]) for i in range(len(parts))]


def signature(repository: pygit2.Repository) -> pygit2.Signature:
    """The configured user, or a fixed identity where git has none."""
    try:
        return repository.default_signature
    except (KeyError, pygit2.GitError):
        return pygit2.Signature(*_FALLBACK_SIGNATURE)


@dataclass(frozen=True)
class Identity:
    """A fixed author and committer for commits that must not depend on the machine or the
    moment they are made: signed at their base commit's committer time (offset 0), such a
    commit is a function of its tree, parents and message alone, so the same change made
    on another machine, or made again, is the same commit."""

    name: str
    email: str

    def at(self, base: pygit2.Commit) -> pygit2.Signature:
        return pygit2.Signature(self.name, self.email, base.commit_time, 0)


def signed(
    repository: pygit2.Repository, identity: Identity | None, base: pygit2.Commit
) -> pygit2.Signature:
    """``identity`` dated at ``base``, or (None) the configured user, now."""
    return identity.at(base) if identity is not None else signature(repository)


# What goes at a path: new content (the file keeps its mode), an exact entry (blob id and
# mode, as a diff reports it), or None (deleted).
Entry = bytes | tuple[pygit2.Oid, int] | None


def tree_with(
    repository: pygit2.Repository, tree: pygit2.Tree | None, files: Mapping[str, Entry]
) -> pygit2.Oid:
    """The id of ``tree`` with ``files`` put in.

    Content keeps the file's mode (an executable stays executable), a new file is a plain
    one, and a directory left empty disappears, as in a commit of the same files from a
    worktree.
    """
    here: dict[str, Entry] = {}
    below: dict[str, dict[str, Entry]] = {}
    for path, entry in files.items():
        head, sep, rest = path.partition("/")
        if sep:
            below.setdefault(head, {})[rest] = entry
        else:
            here[path] = entry
    builder = repository.TreeBuilder(tree) if tree is not None else repository.TreeBuilder()
    # directories first: a file that replaces a directory is then put in over it
    for name, inner in below.items():
        old = builder.get(name)
        oid = tree_with(repository, old if isinstance(old, pygit2.Tree) else None, inner)
        if len(repository[oid].peel(pygit2.Tree)) == 0:
            if old is not None:
                builder.remove(name)
        else:
            builder.insert(name, oid, _TREE)
    for name, entry in here.items():
        old = builder.get(name)
        if entry is None:
            # a file replaced by a directory of the same name was put in above
            if old is not None and name not in below:
                builder.remove(name)
        elif isinstance(entry, tuple):
            builder.insert(name, *entry)
        else:
            keep = old is not None and int(old.filemode) in (_BLOB, _BLOB_EXECUTABLE)
            mode = int(old.filemode) if keep and old is not None else _BLOB
            builder.insert(name, repository.create_blob(entry), mode)
    return builder.write()


def tree_changes(
    repository: pygit2.Repository, old: pygit2.Tree, new: pygit2.Tree
) -> dict[str, Entry]:
    """What turns ``old`` into ``new``: path -> (blob id, mode), None where deleted."""
    out: dict[str, Entry] = {}
    for delta in old.diff_to_tree(new).deltas:
        if delta.status == pygit2.enums.DeltaStatus.DELETED:
            out[delta.old_file.path] = None
        else:
            out[delta.new_file.path] = (delta.new_file.id, int(delta.new_file.mode))
    return out


def commit_files(
    repo: Repo,
    parent: str,
    files: Mapping[str, Entry],
    message: str,
    branch: str | None,
    identity: Identity | None = None,
) -> str | None:
    """Commit ``files`` (path -> content, None: deleted) onto ``parent`` and point
    ``refs/heads/<branch>`` at it; None (and no branch) when that changes nothing.

    ``branch=None`` leaves the commit unnamed (to be checked before :func:`set_branch`
    names it; an unnamed one is garbage for git's gc). ``identity``: see :func:`commit_tree`."""
    with repo.lock:
        repository = repo.main
        head = repository[parent].peel(pygit2.Commit)
        return commit_tree(
            repository, head, tree_with(repository, head.tree, files), message, branch, identity
        )


def commit_tree(
    repository: pygit2.Repository,
    parent: pygit2.Commit,
    tree: pygit2.Oid,
    message: str,
    branch: str | None,
    identity: Identity | None = None,
) -> str | None:
    """A commit of ``tree`` onto ``parent`` on ``refs/heads/<branch>``; None when ``tree`` is
    the parent's (an empty task commit would only hide that nothing changed).

    ``identity`` signs it at the parent's time (the same inputs, the same commit id on any
    machine); None: the configured user, now."""
    if tree == parent.tree_id:
        return None
    sig = signed(repository, identity, parent)
    oid = repository.create_commit(None, sig, sig, message, tree, [parent.id])
    if branch is not None:
        repository.references.create(f"refs/heads/{branch}", oid, force=True)
    return str(oid)


def set_branch(repo: Repo, branch: str, sha: str) -> None:
    """Point ``refs/heads/<branch>`` at ``sha`` (created or moved)."""
    with repo.lock:
        repo.main.references.create(f"refs/heads/{branch}", pygit2.Oid(hex=sha), force=True)


def delete_branch(repo: Repo, branch: str) -> None:
    """Delete ``refs/heads/<branch>``; a branch never created (or not deletable) is left be."""
    with repo.lock:
        try:
            repo.main.references.delete(f"refs/heads/{branch}")
        except (KeyError, pygit2.GitError):
            pass
