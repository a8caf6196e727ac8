"""`WorktreePool`: isolated writable worktrees, created once and reused.

Creating a worktree of a large repository costs seconds, so a pool keeps a few and hands
them out at any commit. On release only what the task touched is put back: a kernel watch
on the worktree's directories (:mod:`reviewbot.git.watch`) names the paths written,
created or deleted, so a return costs in proportion to what the task did, not to the size
of the tree. Where the watch cannot say (another platform, an overflowed event queue,
git commands run inside the worktree), one `git status` scan finds them instead. Moving a
worktree to another commit writes only the paths that differ between the two trees.

Each worktree lives under ``<git dir>/reviewbot/worktrees/<name>`` next to ``<name>.lock``.
The pool that owns a worktree holds an exclusive ``flock`` on that file, which the kernel
drops when the process dies however it dies. The file's text says what state it was left
in: ``busy`` while owned, ``free <sha>`` once a pool closed and parked it clean (the next
pool adopts it instead of creating a new one). A worktree with no lock holder that was not
parked was left by a crashed run; the next pool prunes it.

Git's own admin directory (``<git dir>/worktrees``) is not safe to change from two places at
once: a ``git worktree add`` reads every other entry there and fails on one that another
``add`` has only half written. So every change to it (adding, pruning) and every listing of
it holds the admin lock: a thread lock within this process and an ``flock`` on
``<git dir>/reviewbot/worktrees-admin.lock`` across processes. Only the registration is
serialized (``add --no-checkout``); the new worktree's files are written after the lock is
released, so creations still overlap where it costs, and checkouts of existing worktrees
never take the lock.
"""

from __future__ import annotations

import fcntl
import os
import secrets
import shutil
import threading
from collections.abc import AsyncIterator, Iterator
from contextlib import AbstractContextManager, asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import anyio
import anyio.to_thread
import pygit2

from reviewbot.errors import GitError
from reviewbot.git.gitcli import git
from reviewbot.git.gitcli import status as git_status
from reviewbot.git.objects import parent_dirs
from reviewbot.git.repo import Repo
from reviewbot.git.watch import TreeWatch

_PREFIX = "rb-"
_GITLINK = int(pygit2.enums.FileMode.COMMIT)
_LINK = int(pygit2.enums.FileMode.LINK)
_EXECUTABLE = int(pygit2.enums.FileMode.BLOB_EXECUTABLE)
_BUSY = "busy"
_FREE = "free"
_ADMIN_LOCK = "worktrees-admin.lock"  # next to the pool directory, not in it


@dataclass
class Worktree:
    """A writable checkout handed out by the pool; detached at ``commit``."""

    name: str
    path: Path
    commit: str
    repository: pygit2.Repository = field(repr=False)
    _lock: IO[str] | None = field(default=None, repr=False)
    _dirty: bool = field(default=False, repr=False)  # adopted: restore before first use
    _watch: TreeWatch | None = field(default=None, repr=False)  # set by the first full restore
    _index_stamp: tuple[int, int, int] | None = field(default=None, repr=False)
    # how its returns found the touched paths: from the watch, or by a status scan
    restores: dict[str, int] = field(default_factory=lambda: {"watch": 0, "scan": 0})

    def changed_paths(self) -> list[str]:
        """Paths that differ from the worktree's commit (in the index or on disk) or are
        untracked, sorted; ignored files are not among them."""
        status = self.repository.status(untracked_files="all")
        return sorted(p for p, flags in status.items()
                      if not flags & pygit2.enums.FileStatus.IGNORED)


def _worktrees_dir(repo: Repo) -> Path:
    return repo.git_dir / "reviewbot" / "worktrees"


class _AdminLock:
    """Serializes changes to git's worktree admin directory: reentrant within a thread (a
    prune inside a scan), exclusive between threads and, through ``flock``, processes."""

    _registry: dict[Path, _AdminLock] = {}
    _registry_lock = threading.Lock()

    def __init__(self, path: Path) -> None:
        self.path = path
        self._thread_lock = threading.RLock()
        self._depth = 0
        self._handle: IO[str] | None = None

    @classmethod
    def of(cls, repo: Repo) -> _AdminLock:
        path = (_worktrees_dir(repo).parent / _ADMIN_LOCK).resolve()
        with cls._registry_lock:
            found = cls._registry.get(path)
            if found is None:
                found = cls._registry[path] = cls(path)
            return found

    @contextmanager
    def held(self) -> Iterator[None]:
        with self._thread_lock:
            if self._depth == 0:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                handle = open(self.path, "a", encoding="utf-8")  # noqa: SIM115 - closed below
                try:
                    fcntl.flock(handle, fcntl.LOCK_EX)
                except BaseException:
                    handle.close()
                    raise
                self._handle = handle
            self._depth += 1
            try:
                yield
            finally:
                self._depth -= 1
                if self._depth == 0 and self._handle is not None:
                    self._handle.close()  # closing drops the flock
                    self._handle = None


def _admin(repo: Repo) -> AbstractContextManager[None]:
    return _AdminLock.of(repo).held()


def _try_lock(lock_path: Path) -> IO[str] | None:
    """The lock file opened and exclusively locked, or None when a live process holds it."""
    handle = open(lock_path, "a+", encoding="utf-8")  # noqa: SIM115 - kept open while owned
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        return None
    return handle


def _read_state(handle: IO[str]) -> list[str]:
    handle.seek(0)
    return handle.read().split()


def _write_state(handle: IO[str], state: str) -> None:
    handle.seek(0)
    handle.truncate()
    handle.write(state + "\n")
    handle.flush()


class WorktreePool:
    """Up to ``size`` worktrees of ``repo``, handed out one task at a time.

    ``keep=True`` parks the worktrees on close for the next pool of this repository (no
    creation cost next run); ``keep=False`` removes them.
    """

    def __init__(self, repo: Repo, size: int = 8, *, keep: bool = True) -> None:
        if size < 1:
            raise ValueError("a worktree pool needs size >= 1")
        self.repo = repo
        self.size = size
        self.keep = keep
        self.dir = repo.state_dir / "worktrees"
        self.dir.mkdir(parents=True, exist_ok=True)
        self._token = f"{_PREFIX}{os.getpid()}-{secrets.token_hex(3)}"
        self._idle: list[Worktree] = []
        self._count = 0
        self._created = 0
        self._slots = anyio.Semaphore(size)
        self._closed = False
        self.pruned, self._idle = _scan(repo, adopt=size)
        self.adopted = len(self._idle)

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
                with _git_errors():
                    if wt is None:
                        wt = await anyio.to_thread.run_sync(self._create, sha)
                    else:
                        await anyio.to_thread.run_sync(_prepare, wt, sha)
            except BaseException:
                if wt is not None:
                    await anyio.to_thread.run_sync(_discard, self.repo, wt)
                raise
            try:
                yield wt
            finally:
                with anyio.CancelScope(shield=True):
                    await self._release(wt)

    async def close(self) -> None:
        """Park (``keep``) or remove the idle worktrees; busy ones follow on release."""
        self._closed = True
        idle, self._idle = self._idle, []
        for wt in idle:
            await anyio.to_thread.run_sync(self._retire, wt)

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
            with _git_errors():
                await anyio.to_thread.run_sync(restore, wt)
        except BaseException:
            await anyio.to_thread.run_sync(_discard, self.repo, wt)
            raise
        if self._closed:
            await anyio.to_thread.run_sync(self._retire, wt)
        else:
            self._idle.append(wt)

    def _retire(self, wt: Worktree) -> None:
        _unwatch(wt)
        if self.keep and wt._lock is not None:
            _write_state(wt._lock, f"{_FREE} {wt.commit}")
            wt._lock.close()  # drops the flock: the next pool may adopt it
            wt._lock = None
        else:
            _discard(self.repo, wt)

    def _create(self, sha: str) -> Worktree:
        self._count += 1
        name = f"{self._token}-{self._count}"
        path = self.dir / name
        lock_path = self.dir / f"{name}.lock"
        # Locked before the worktree exists, so a crash mid-creation is pruned like any other.
        lock = _try_lock(lock_path)
        if lock is None:  # pragma: no cover - the name is unique to this pool
            raise RuntimeError(f"worktree lock {lock_path} is held by another process")
        _write_state(lock, _BUSY)
        try:
            with _admin(self.repo):
                git(
                    self.repo.root,
                    "worktree",
                    "add",
                    "--detach",
                    "--no-checkout",
                    "--quiet",
                    str(path),
                    sha,
                )
            # writing the files (the slow part) needs no lock: it touches only this worktree
            git(path, "reset", "--hard", "--quiet")
            repository = pygit2.Repository(str(path))
        except BaseException:
            _remove(self.repo, name, path, lock_path)
            lock.close()
            raise
        self._created += 1
        wt = Worktree(name=name, path=path, commit=sha, repository=repository, _lock=lock)
        _watch(wt)
        return wt


@contextmanager
def _git_errors() -> Iterator[None]:
    """libgit2's failures as our GitError, with its message."""
    try:
        yield
    except pygit2.GitError as exc:
        raise GitError(str(exc)) from exc


def _prepare(wt: Worktree, sha: str) -> None:
    if wt._dirty:
        restore(wt)
        wt._dirty = False
    if wt.commit != sha:
        _move(wt, sha)


def _discard(repo: Repo, wt: Worktree) -> None:
    _unwatch(wt)
    _remove(repo, wt.name, wt.path, _worktrees_dir(repo) / f"{wt.name}.lock")
    if wt._lock is not None:
        wt._lock.close()
        wt._lock = None


def _scan(repo: Repo, adopt: int) -> tuple[list[str], list[Worktree]]:
    """Prune worktrees left by crashed runs; lock and return up to ``adopt`` parked ones."""
    with _admin(repo):
        return _scan_locked(repo, adopt)


def _scan_locked(repo: Repo, adopt: int) -> tuple[list[str], list[Worktree]]:
    base = _worktrees_dir(repo)
    names: set[str] = set()
    if base.is_dir():
        names |= {p.stem if p.suffix == ".lock" else p.name for p in base.iterdir()}
    with repo.lock:
        for name in repo.main.list_worktrees():
            if not name.startswith(_PREFIX):
                continue
            try:
                where = Path(repo.main.lookup_worktree(name).path).resolve().parent
            except (KeyError, pygit2.GitError):
                continue
            # Only ours: registered under our directory (a user's worktree may share the prefix).
            if where == base.resolve():
                names.add(name)
    pruned: list[str] = []
    adopted: list[Worktree] = []
    for name in sorted(n for n in names if n.startswith(_PREFIX)):
        lock_path = base / f"{name}.lock"
        lock = _try_lock(lock_path)
        if lock is None:
            continue  # a live pool owns it
        state = _read_state(lock)
        path = base / name
        parked = len(state) == 2 and state[0] == _FREE and (path / ".git").is_file()
        if parked and len(adopted) < adopt:
            try:
                repository = pygit2.Repository(str(path))
                commit = str(repository.head.target)
            except (pygit2.GitError, KeyError):
                parked = False
            else:
                _write_state(lock, _BUSY)
                adopted.append(Worktree(name, path, commit, repository, _lock=lock, _dirty=True))
                continue
        if parked:
            lock.close()  # parked, but this pool is full: leave it for another
            continue
        _remove(repo, name, path, lock_path)
        lock.close()
        pruned.append(name)
    return pruned, adopted


def prune_stale(repo: Repo, *, parked: bool = False) -> list[str]:
    """Remove worktrees left by crashed runs (and parked ones when ``parked``); their names."""
    pruned, adopted = _scan(repo, adopt=1 << 30 if parked else 0)
    for wt in adopted:
        _discard(repo, wt)
        pruned.append(wt.name)
    return sorted(pruned)


def restore(wt: Worktree) -> list[str]:
    """Put back what a task touched in ``wt`` (index and files); returns the touched paths.

    Only the touched paths are rewritten from ``wt.commit``; untracked and ignored files the
    task left are deleted. The worktree's watch names them; without a usable one, a status
    scan does (and the watch starts again).
    """
    touched = _watched_restore(wt)
    if touched is not None:
        wt.restores["watch"] += 1
        return touched
    wt.restores["scan"] += 1
    return _scanned_restore(wt)


def _scanned_restore(wt: Worktree) -> list[str]:
    w = wt.repository
    status = git_status(wt.path)
    tracked: list[str] = []
    for path, code in status.items():
        if code in ("??", "!!"):
            _delete(wt.path, path)
        else:
            tracked.append(path)
    if tracked:
        _sync_paths(w, wt.path, w[wt.commit].peel(pygit2.Tree), tracked)
    _watch(wt)
    return sorted(status)


def _watched_restore(wt: Worktree) -> list[str] | None:
    """The restore from the watch's events; None when they cannot be trusted."""
    watch = wt._watch
    if watch is None or not watch.usable or _stamp(wt) != wt._index_stamp:
        return None  # no watch, or git itself ran in the worktree (its index moved)
    w = wt.repository
    if w.head_is_unborn or str(w.head.target) != wt.commit:
        return None
    changes = watch.changes()
    if changes is None or ".git" in changes.paths:
        return None
    if not changes.paths:
        return []
    tree = w[wt.commit].peel(pygit2.Tree)
    paths: set[str] = set()
    for path in sorted(changes.paths):
        entry = _tree_object(tree, path)
        if entry is None:
            _delete(wt.path, path)  # untracked: a file, or a whole new directory
        elif not isinstance(entry, pygit2.Tree):
            paths.add(path)
        elif path in changes.dirs:
            # a tracked directory deleted, recreated or moved: what it holds now is unknown
            # (a new directory has no watch yet), so all of it comes back from the commit
            target = wt.path / path
            if target.is_dir() and not target.is_symlink():
                shutil.rmtree(target)
            paths.update(f"{path}/{p}" for p in _blob_paths(entry))
    _sync_paths(w, wt.path, tree, sorted(paths), index=False)
    _rewatch(wt, tree, paths)
    return sorted(changes.paths)


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
    _rewatch(wt, new, changed)


# --- the watch ------------------------------------------------------------------------------


def _stamp(wt: Worktree) -> tuple[int, int, int] | None:
    """When the worktree's index file last changed (git commands run in it rewrite it)."""
    try:
        info = (Path(wt.repository.path) / "index").stat()
    except FileNotFoundError:
        return None
    return info.st_mtime_ns, info.st_size, info.st_ino


def _watch(wt: Worktree) -> None:
    """(Re)start watching every tracked directory of a clean worktree."""
    index = wt.repository.index
    index.read(False)
    dirs = {""}
    for entry in index:
        dirs.update(parent_dirs(entry.path))
    if wt._watch is None:
        wt._watch = TreeWatch(wt.path)
    wt._watch.reset(sorted(dirs))
    wt._index_stamp = _stamp(wt)


def _rewatch(wt: Worktree, tree: pygit2.Tree, paths: set[str]) -> None:
    """After writing ``paths`` ourselves: watch the directories that writing (re)created and
    forget the events it caused."""
    watch = wt._watch
    if watch is None:
        return
    dirs = {
        d for p in paths for d in parent_dirs(p) if isinstance(_tree_object(tree, d), pygit2.Tree)
    }
    watch.add(sorted(dirs))
    watch.changes()  # our own writes; an overflow here sends the next restore to a scan
    wt._index_stamp = _stamp(wt)


def _unwatch(wt: Worktree) -> None:
    if wt._watch is not None:
        wt._watch.close()
        wt._watch = None


def _tree_object(tree: pygit2.Tree, path: str) -> pygit2.Object | None:
    try:
        return tree[path]
    except KeyError:
        return None


def _blob_paths(tree: pygit2.Tree) -> list[str]:
    """Every file, symlink and submodule path below ``tree``, relative to it."""
    out: list[str] = []
    for obj in tree:
        name = obj.name or ""
        if isinstance(obj, pygit2.Tree):
            out.extend(f"{name}/{p}" for p in _blob_paths(obj))
        else:
            out.append(name)
    return out


def _sync_paths(
    w: pygit2.Repository, root: Path, tree: pygit2.Tree, paths: list[str], *, index: bool = True
) -> None:
    """Make ``paths`` in the work tree (and, with ``index``, the index) match ``tree``,
    touching nothing else.

    A libgit2 checkout limited to paths still walks the whole work tree; writing the few
    blobs ourselves keeps a reuse proportional to what changed. Without ``index`` the index
    keeps its entries (they already name ``tree``'s blobs) with stale stat data, which git
    only answers by re-reading those files: writing a 7k-entry index costs more than the
    rest of a return.
    """
    entries = w.index if index else None
    if entries is not None:
        entries.read(False)
    present: list[tuple[str, pygit2.Oid, int]] = []
    for path in paths:
        entry = _tree_entry(tree, path)
        if entry is None:  # gone at the target commit, or now a directory (its files are listed)
            if entries is not None and path in entries:
                entries.remove(path)
            if not (root / path).is_dir() or (root / path).is_symlink():
                _delete(root, path)
            continue
        present.append((path, *entry))
    for path, oid, mode in present:
        target = root / path
        regular = mode not in (_GITLINK, _LINK)
        if regular and target.is_file() and not target.is_symlink():
            pass  # rewritten in place below: cheaper than a new directory entry
        elif target.is_dir() and not target.is_symlink():
            shutil.rmtree(target)
        elif target.exists() or target.is_symlink():
            target.unlink()
        target.parent.mkdir(parents=True, exist_ok=True)
        if mode == _GITLINK:
            target.mkdir()
            if entries is not None:
                entries.add(pygit2.IndexEntry(path, oid, pygit2.enums.FileMode(mode)))
            continue
        data = w[oid].peel(pygit2.Blob).data
        if mode == _LINK:
            os.symlink(data, target)
        else:
            target.write_bytes(data)
            current = target.stat().st_mode
            if bool(current & 0o100) != (mode == _EXECUTABLE):
                target.chmod(current | 0o111 if mode == _EXECUTABLE else current & ~0o111)
        if entries is not None:
            entries.add(path)  # re-reads the file we wrote, so the index holds fresh stat data
    if entries is not None:
        entries.write()


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
    while parent != root and parent.is_dir() and _empty(parent):
        parent.rmdir()
        parent = parent.parent


def _empty(directory: Path) -> bool:
    # scandir stops at the first entry; Path.iterdir lists them all (quadratic when a task
    # left thousands of files in one directory)
    with os.scandir(directory) as entries:
        return next(entries, None) is None


def _remove(repo: Repo, name: str, path: Path, lock: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)
    with _admin(repo):
        try:
            with repo.lock:
                repo.main.lookup_worktree(name).prune(True)
        except (KeyError, pygit2.GitError):
            pass  # never registered, or already pruned
    lock.unlink(missing_ok=True)
