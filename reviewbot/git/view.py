"""`RepoView`: read-only file access to one commit (from the object store) or the working tree.

Read-only agents use it instead of a checkout. Paths come from untrusted callers (model
tool calls), so a working-tree view refuses anything that leaves the repository root.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from pathlib import Path, PurePosixPath

import pygit2
import re2
from pydantic import BaseModel, ConfigDict

from reviewbot.git.changes import WORKTREE
from reviewbot.git.repo import Repo

_BINARY_SNIFF = 8000  # git's own heuristic: a NUL byte in the first 8000 bytes means binary
_REGULAR_MODES = {int(pygit2.enums.FileMode.BLOB), int(pygit2.enums.FileMode.BLOB_EXECUTABLE)}
# Status flags meaning the file on disk is not what the index records (its id is stale).
_ON_DISK_DIFFERS = (
    pygit2.enums.FileStatus.WT_MODIFIED
    | pygit2.enums.FileStatus.WT_NEW
    | pygit2.enums.FileStatus.WT_DELETED
    | pygit2.enums.FileStatus.WT_TYPECHANGE
    | pygit2.enums.FileStatus.WT_RENAMED
    | pygit2.enums.FileStatus.CONFLICTED
)
# Below this many paths a working-tree view hashes files instead of scanning the status.
_HASH_DIRECTLY = 32


class NotTextError(ValueError):
    """The file is binary or not UTF-8, so it has no text to return."""


class GrepHit(BaseModel):
    model_config = ConfigDict(frozen=True)

    path: str
    line: int  # 1-based
    text: str


def is_binary(data: bytes) -> bool:
    return b"\0" in data[:_BINARY_SNIFF]


def decode_text(path: str, data: bytes) -> str:
    if is_binary(data):
        raise NotTextError(f"{path} is a binary file")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise NotTextError(f"{path} is not UTF-8 text") from None


def _clean(path: str) -> str:
    """A normalised repository-relative path; ValueError when it would leave the repository."""
    posix = PurePosixPath(path.replace("\\", "/"))
    if posix.is_absolute() or ".." in posix.parts:
        raise ValueError(f"{path}: paths must be relative to the repository root, without '..'")
    cleaned = str(posix)
    return "" if cleaned == "." else cleaned


class RepoView:
    """Files of one commit, or of the working tree; the same read-only interface for both."""

    def __init__(self, repo: Repo, commit: str) -> None:
        self.repo = repo
        self.commit = commit  # full sha, or WORKTREE
        self._tree: pygit2.Tree | None = None
        self._files: list[str] | None = None
        self._ids: dict[str, str] | None = None  # a commit's regular files -> blob id
        if commit != WORKTREE:
            with repo.lock:
                self._tree = repo.main[commit].peel(pygit2.Tree)

    @classmethod
    def at(cls, repo: Repo, commit: str) -> RepoView:
        return cls(repo, repo.resolve(commit))

    @classmethod
    def working_tree(cls, repo: Repo) -> RepoView:
        return cls(repo, WORKTREE)

    # -- reading -------------------------------------------------------------------------------

    def read_bytes(self, path: str) -> bytes:
        rel = _clean(path)
        if self._tree is not None:
            with self.repo.lock:
                return self._blob(rel).data
        target = self._disk_path(rel)
        if not target.is_file():
            raise FileNotFoundError(f"{rel} does not exist in the working tree")
        return target.read_bytes()

    def read(self, path: str) -> str:
        """UTF-8 text of ``path``; FileNotFoundError if absent, NotTextError if binary/not UTF-8."""
        return decode_text(path, self.read_bytes(path))

    def exists(self, path: str) -> bool:
        try:
            rel = _clean(path)
        except ValueError:
            return False
        if self._tree is not None:
            try:
                with self.repo.lock:
                    self._blob(rel)
            except FileNotFoundError:
                return False
            return True
        try:
            return self._disk_path(rel).is_file()
        except FileNotFoundError:
            return False

    def blob_id(self, path: str) -> str:
        """The git blob id of ``path`` (hashed like git does for working-tree files)."""
        rel = _clean(path)
        if self._tree is not None:
            with self.repo.lock:
                return str(self._blob(rel).id)
        return str(pygit2.hash(self.read_bytes(rel)))

    def blob_ids(self, paths: Iterable[str] | None = None) -> dict[str, str]:
        """Blob ids of many files at once: ``paths`` (default: every file of :meth:`files`)
        that exist; the others are left out.

        At a commit this is one tree walk (kept for later calls). In the working tree the
        index already holds the id of every file that status finds unmodified; only modified
        and untracked files are read and hashed.
        """
        wanted = None if paths is None else [_clean(p) for p in paths]
        if self._tree is not None:
            ids = self._commit_ids()
            if wanted is None:
                return dict(ids)
            return {p: ids[p] for p in wanted if p in ids}
        if wanted is not None and len(wanted) <= _HASH_DIRECTLY:
            # a handful of files: hashing them costs less than a status scan of the tree
            out: dict[str, str] = {}
            for path in wanted:
                try:
                    out[path] = self.blob_id(path)
                except FileNotFoundError:
                    continue
            return out
        with self.repo.lock:
            ids, stale = self._worktree_ids()
        for path in stale:
            try:
                ids[path] = str(pygit2.hash(self._disk_path(path).read_bytes()))
            except (FileNotFoundError, IsADirectoryError):
                continue
        if wanted is None:
            return {p: ids[p] for p in self.files() if p in ids}
        return {p: ids[p] for p in wanted if p in ids}

    def files(self, prefix: str = "") -> list[str]:
        """Regular files (no symlinks, no submodules), sorted; only those under ``prefix``."""
        if self._files is None:
            with self.repo.lock:
                self._files = self._list_files()
        if not prefix:
            return list(self._files)
        clean = _clean(prefix).rstrip("/")
        if not clean:
            return list(self._files)
        return [p for p in self._files if p == clean or p.startswith(clean + "/")]

    def grep(
        self, pattern: str, paths: Iterable[str] | None = None, max_hits: int = 1000
    ) -> list[GrepHit]:
        """Lines matching the regex ``pattern`` in text files (binary and non-UTF-8 skipped).

        Patterns come from models and generated harnesses, so they are matched by RE2 in
        linear time: no pattern can backtrack for hours. RE2 lacks lookaround and
        backreferences; such a pattern is refused with a ``ValueError`` saying so.
        """
        try:
            regex = re2.compile(pattern)
        except re2.error as exc:
            raise ValueError(
                f"grep pattern {pattern[:80]!r} is not supported ({exc}); lookaround and "
                "backreferences are not available"
            ) from None
        needle = _literal_prefix(pattern)
        hits: list[GrepHit] = []
        for path in self.files() if paths is None else paths:
            try:
                data = self.read_bytes(path)
            except FileNotFoundError:
                continue
            if needle and needle not in data:
                continue
            try:
                text = decode_text(path, data)
            except NotTextError:
                continue
            for number, line in enumerate(text.splitlines(), start=1):
                if regex.search(line):
                    hits.append(GrepHit(path=path, line=number, text=line))
                    if len(hits) >= max_hits:
                        return hits
        return hits

    # -- internals -----------------------------------------------------------------------------

    def _blob(self, rel: str) -> pygit2.Blob:
        assert self._tree is not None
        try:
            obj = self._tree[rel] if rel else None
        except KeyError:
            obj = None
        if not isinstance(obj, pygit2.Blob):
            raise FileNotFoundError(f"{rel} does not exist at {self.commit[:12]}")
        return obj

    def _disk_path(self, rel: str) -> Path:
        root = self.repo.root
        target = root / rel
        # A symlink inside the tree may point anywhere; never read through one out of the root.
        resolved = target.resolve()
        if resolved != root and root not in resolved.parents:
            raise FileNotFoundError(f"{rel} points outside the repository")
        if target.is_symlink():
            raise FileNotFoundError(f"{rel} is a symlink")
        return target

    def _commit_ids(self) -> dict[str, str]:
        if self._ids is None:
            assert self._tree is not None
            index = pygit2.Index()
            with self.repo.lock:
                index.read_tree(self._tree)
            self._ids = {e.path: str(e.id) for e in index if e.mode in _REGULAR_MODES}
        return self._ids

    def _worktree_ids(self) -> tuple[dict[str, str], list[str]]:
        """(path -> id for regular files the index holds unchanged on disk, paths to hash)."""
        repository = self.repo.pygit2
        index = repository.index
        index.read(False)
        ids = {e.path: str(e.id) for e in index if e.mode in _REGULAR_MODES}
        stale: list[str] = []
        for path, flags in repository.status(untracked_files="all").items():
            if flags & _ON_DISK_DIFFERS:
                ids.pop(path, None)
                if not flags & pygit2.enums.FileStatus.WT_DELETED:
                    stale.append(path)
        return ids, stale

    def _list_files(self) -> list[str]:
        if self._tree is not None:
            return sorted(self._commit_ids())
        repository = self.repo.pygit2
        index = repository.index
        index.read(False)
        paths = {e.path for e in index if e.mode in _REGULAR_MODES}
        for path, flags in repository.status(untracked_files="all").items():
            if flags & pygit2.enums.FileStatus.WT_DELETED:
                paths.discard(path)
            elif flags & pygit2.enums.FileStatus.WT_NEW:
                paths.add(path)
        root = self.repo.root
        return sorted(p for p in paths if os.path.isfile(root / p) and not os.path.islink(root / p))


def _literal_prefix(pattern: str) -> bytes:
    """A literal run of the regex usable as a cheap byte prefilter (empty when there is none)."""
    if any(ch in pattern for ch in "|?*{"):  # alternation or optional parts: no safe literal
        return b""
    best = ""
    # character classes ("[abc]") are not literal text: cut them out before looking for runs
    without_classes = re.sub(r"\[(?:\\.|[^\]])*\]", ".", pattern)
    for run in re.split(r"\\.|[\[\](){}^$.+]", without_classes):
        if len(run) > len(best):
            best = run
    return best.encode("utf-8") if len(best) >= 3 else b""
