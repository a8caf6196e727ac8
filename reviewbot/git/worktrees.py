"""`WorktreePool`: isolated writable worktrees, created once and reused.

Creating a worktree of a large repository costs seconds, so a pool keeps a few and hands
them out at any commit. On release only what the task touched is put back (the paths that
`status` reports), so a reuse costs about one status scan.

Each worktree lives under ``<git dir>/reviewbot/worktrees/<name>`` next to ``<name>.lock``,
which holds the owning process id. A worktree whose owner is gone was left by a crashed
run and is pruned when the next pool starts.
"""

from __future__ import annotations

import os
import secrets
import shutil
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

import anyio
import anyio.to_thread
import pygit2

from reviewbot.git.gitcli import git
from reviewbot.git.repo import Repo

_PREFIX = "rb-"
_FS = pygit2.enums.FileStatus
_UNTRACKED = _FS.WT_NEW | _FS.IGNORED
_GITLINK = int(pygit2.enums.FileMode.COMMIT)
_LINK = int(pygit2.enums.FileMode.LINK)
_EXECUTABLE = int(pygit2.enums.FileMode.BLOB_EXECUTABLE)


@dataclass
class Worktree:
    """A writable checkout handed out by the pool; detached at ``commit``."""

    name: str
    path: Path
    commit: str
    repository: pygit2.Repository = field(repr=False)


def _pid_alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


def _lock_owner(lock: Path) -> int | None:
    try:
        return int(lock.read_text(encoding="utf-8").split()[0])
    except (OSError, ValueError, IndexError):
        return None


class WorktreePool:
    """Up to ``size`` worktrees of ``repo``, handed out one task at a time."""

    def __init__(self, repo: Repo, size: int = 8) -> None:
        if size < 1:
            raise ValueError("a worktree pool needs size >= 1")
        self.repo = repo
        self.size = size
        self.dir = repo.state_dir / "worktrees"
        self.dir.mkdir(parents=True, exist_ok=True)
        self._token = f"{_PREFIX}{os.getpid()}-{secrets.token_hex(3)}"
        self._idle: list[Worktree] = []
        self._all: dict[str, Worktree] = {}
        self._created = 0
        self._slots = anyio.Semaphore(size)
        self._closed = False
        self.pruned = prune_stale(repo)

    # -- public ------------------------------------------------------------------------------

    @asynccontextmanager
    async def checkout(self, commit: str) -> AsyncIterator[Worktree]:
        """A worktree detached at ``commit``, restored and returned to the pool on exit."""
        if self._closed:
            raise RuntimeError("this worktree pool is closed")
        sha = await anyio.to_thread.run_sync(self.repo.resolve, commit)
        async with self._slots:
            wt = self._take(sha)
            try:
                if wt is None:
                    wt = await anyio.to_thread.run_sync(self._create, sha)
                elif wt.commit != sha:
                    await anyio.to_thread.run_sync(_move, wt, sha)
            except BaseException:
                if wt is not None:
                    await anyio.to_thread.run_sync(self._discard, wt)
                raise
            try:
                yield wt
            finally:
                with anyio.CancelScope(shield=True):
                    await self._release(wt)

    async def close(self) -> None:
        """Remove every worktree of this pool (idle ones; busy ones are removed on release)."""
        self._closed = True
        idle, self._idle = self._idle, []
        for wt in idle:
            await anyio.to_thread.run_sync(self._discard, wt)

    async def __aenter__(self) -> WorktreePool:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    @property
    def created(self) -> int:
        """How many worktrees this pool has created (reuse keeps this at most ``size``)."""
        return self._created

    # -- internals -----------------------------------------------------------------------------

    def _take(self, sha: str) -> Worktree | None:
        for i, wt in enumerate(self._idle):
            if wt.commit == sha:
                return self._idle.pop(i)
        return self._idle.pop() if self._idle else None

    async def _release(self, wt: Worktree) -> None:
        try:
            await anyio.to_thread.run_sync(restore, wt)
        except BaseException:
            await anyio.to_thread.run_sync(self._discard, wt)
            raise
        if self._closed:
            await anyio.to_thread.run_sync(self._discard, wt)
        else:
            self._idle.append(wt)

    def _create(self, sha: str) -> Worktree:
        self._created += 1
        name = f"{self._token}-{self._created}"
        path = self.dir / name
        lock = self.dir / f"{name}.lock"
        # The lock exists before the worktree does, so a crash mid-creation is still pruned.
        lock.write_text(f"{os.getpid()}\n", encoding="utf-8")
        try:
            git(self.repo.root, "worktree", "add", "--detach", "--quiet", str(path), sha)
            repository = pygit2.Repository(str(path))
        except BaseException:
            _remove(self.repo, name, path, lock)
            raise
        wt = Worktree(name=name, path=path, commit=sha, repository=repository)
        self._all[name] = wt
        return wt

    def _discard(self, wt: Worktree) -> None:
        self._all.pop(wt.name, None)
        _remove(self.repo, wt.name, wt.path, self.dir / f"{wt.name}.lock")


def restore(wt: Worktree) -> list[str]:
    """Put back what a task touched in ``wt`` (index and files); returns the touched paths.

    One status scan finds the touched paths; only those are rewritten from ``wt.commit``.
    Untracked and ignored files the task left are deleted.
    """
    w = wt.repository
    status = w.status(untracked_files="all", ignored=True)
    if not status:
        return []
    tracked: list[str] = []
    for path, flags in status.items():
        if flags & _UNTRACKED and not flags & ~_UNTRACKED:
            _delete(wt.path, path)
        else:
            tracked.append(path)
    if tracked:
        _sync_paths(w, wt.path, w[wt.commit].peel(pygit2.Tree), tracked)
    return sorted(status)


def _move(wt: Worktree, sha: str) -> None:
    """Switch a clean worktree to another commit, writing only the files that differ."""
    w = wt.repository
    old = w[wt.commit].peel(pygit2.Tree)
    new = w[sha].peel(pygit2.Tree)
    changed: set[str] = set()
    for delta in old.diff_to_tree(new).deltas:
        changed.add(delta.old_file.path)
        changed.add(delta.new_file.path)
    if changed:
        _sync_paths(w, wt.path, new, sorted(changed))
    w.set_head(pygit2.Oid(hex=sha))
    wt.commit = sha


def _sync_paths(w: pygit2.Repository, root: Path, tree: pygit2.Tree, paths: list[str]) -> None:
    """Make ``paths`` in the work tree and index match ``tree``, touching nothing else.

    A libgit2 checkout limited to paths still walks the whole work tree; writing the few
    blobs ourselves keeps a reuse proportional to what changed.
    """
    index = w.index
    index.read(False)
    present: list[tuple[str, pygit2.Oid, int]] = []
    for path in paths:
        entry = _tree_entry(tree, path)
        if entry is None:  # gone at the target commit, or now a directory (its files are listed)
            if path in index:
                index.remove(path)
            if not (root / path).is_dir() or (root / path).is_symlink():
                _delete(root, path)
            continue
        present.append((path, *entry))
    for path, oid, mode in present:
        target = root / path
        if target.is_dir() and not target.is_symlink():
            shutil.rmtree(target)
        elif target.exists() or target.is_symlink():
            target.unlink()
        target.parent.mkdir(parents=True, exist_ok=True)
        if mode == _GITLINK:
            target.mkdir()
            index.add(pygit2.IndexEntry(path, oid, pygit2.enums.FileMode(mode)))
            continue
        data = w[oid].peel(pygit2.Blob).data
        if mode == _LINK:
            os.symlink(data, target)
        else:
            target.write_bytes(data)
            if mode == _EXECUTABLE:
                target.chmod(0o755)
        index.add(path)  # re-reads the file we wrote, so the index holds fresh stat data
    index.write()


def _tree_entry(tree: pygit2.Tree, path: str) -> tuple[pygit2.Oid, int] | None:
    """(id, mode) of a file, symlink or submodule at ``path`` in ``tree``; None otherwise."""
    try:
        obj = tree[path]
    except KeyError:
        return None
    mode = int(obj.filemode)
    if mode == int(pygit2.enums.FileMode.TREE):
        return None
    return obj.id, mode


def _delete(root: Path, rel: str) -> None:
    target = root / rel
    if target.is_dir() and not target.is_symlink():
        shutil.rmtree(target)
    else:
        target.unlink(missing_ok=True)
    parent = target.parent
    while parent != root and parent.is_dir() and not any(parent.iterdir()):
        parent.rmdir()
        parent = parent.parent


def _remove(repo: Repo, name: str, path: Path, lock: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)
    try:
        repo.main.lookup_worktree(name).prune(True)
    except (KeyError, pygit2.GitError):
        pass  # never registered, or already pruned
    lock.unlink(missing_ok=True)


def prune_stale(repo: Repo) -> list[str]:
    """Remove reviewbot worktrees whose owning process is gone; returns their names."""
    base = repo.git_dir / "reviewbot" / "worktrees"
    names: set[str] = set()
    if base.is_dir():
        names |= {p.stem if p.suffix == ".lock" else p.name for p in base.iterdir()}
    for name in repo.main.list_worktrees():
        # Only ours: registered under our directory (a user's own worktree may share the prefix).
        if name.startswith(_PREFIX) and Path(repo.main.lookup_worktree(name).path).parent == base:
            names.add(name)
    pruned = []
    for name in sorted(n for n in names if n.startswith(_PREFIX)):
        owner = _lock_owner(base / f"{name}.lock")
        if owner is not None and _pid_alive(owner):
            continue
        _remove(repo, name, base / name, base / f"{name}.lock")
        pruned.append(name)
    return pruned
