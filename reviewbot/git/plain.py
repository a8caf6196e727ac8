"""`PlainRepo`: a repository opened as libgit2 finds it, with libgit2's own transports.

What a CI job does with the checkout it was handed (the Action's workspace): ask whether
commits are there, fetch the missing ones and push a branch with a token, read a file at a
commit and commit files on top of one, without a working tree being touched. Unlike
:class:`~reviewbot.git.repo.Repo` it may be bare (a test server's origin) and has no lock:
one caller uses it at a time. A token reaches libgit2 through :class:`TokenCredentials`,
never through a URL or a configuration file.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import pygit2

from reviewbot.errors import GitError, GitHubError
from reviewbot.git.objects import Entry, tree_with


class TokenCredentials(pygit2.RemoteCallbacks):
    """``x-access-token`` basic auth for GitHub, with a cap on attempts.

    libgit2 asks again and again when a token is refused; without a cap a bad token loops.
    """

    def __init__(
        self, token: str, *, max_attempts: int = 3, purpose: Literal["push", "fetch"] = "push"
    ) -> None:
        super().__init__()
        self._token = token
        self.max_attempts = max_attempts
        self.purpose = purpose
        self.attempts = 0

    def credentials(self, url: str, username_from_url: str | None, allowed_types: int) -> Any:
        self.attempts += 1
        if self.attempts > self.max_attempts:
            # A fetch needs only read access; telling a user to grant write would mislead.
            needs = "may push (permissions: contents: write)"
            if self.purpose == "fetch":
                needs = "may read this repository (permissions: contents: read)"
            raise GitHubError(
                f"the remote refused the token {self.max_attempts} times; "
                f"check that `github-token` {needs}"
            )
        return pygit2.UserPass("x-access-token", self._token)

    def __repr__(self) -> str:  # never show the token
        return f"TokenCredentials(attempts={self.attempts})"


@dataclass(frozen=True)
class FilePatch:
    """One file of a diff as git prints it: ``status`` is git's letter (A, D, M, R, ...)."""

    path: str
    old_path: str
    status: str
    text: str
    additions: int
    deletions: int


class PlainRepo:
    """A repository at (or above) ``path``, bare or not; libgit2's failures are GitError."""

    def __init__(self, path: str | Path) -> None:
        try:
            self._repo = pygit2.Repository(str(path))
        except pygit2.GitError as exc:
            raise GitError(f"{path} is not a git repository: {exc}") from None

    @property
    def is_shallow(self) -> bool:
        return bool(self._repo.is_shallow)

    def has_commit(self, sha: str) -> bool:
        try:
            return isinstance(self._repo.get(sha), pygit2.Commit)
        except (ValueError, pygit2.GitError):
            return False

    def resolve(self, ref: str) -> str | None:
        """The commit ``ref`` names; None when it names none."""
        try:
            return str(self._repo.revparse_single(ref).peel(pygit2.Commit).id)
        except (pygit2.GitError, KeyError):
            return None

    def branch_target(self, branch: str) -> str | None:
        """The commit local ``branch`` points at; None when there is no such branch."""
        local = self._repo.branches.local.get(branch)
        return str(local.target) if local is not None else None

    def merge_base(self, a: str, b: str) -> str | None:
        try:
            found = self._repo.merge_base(a, b)
        except (KeyError, ValueError, pygit2.GitError):
            return None
        return str(found) if found is not None else None

    def is_ancestor(self, older: str, newer: str) -> bool:
        """Whether ``older`` is in the history of ``newer`` (False when either is missing)."""
        if not (self.has_commit(older) and self.has_commit(newer)):
            return False
        return older == newer or bool(self._repo.descendant_of(newer, older))

    def read_file(self, commit: str, path: str) -> bytes | None:
        """The content of ``path`` at ``commit``; None when it is not a file there."""
        tree = self._repo[commit].peel(pygit2.Commit).tree
        try:
            entry = tree[path]
        except KeyError:
            return None
        blob = self._repo[entry.id]
        return blob.data if isinstance(blob, pygit2.Blob) else None

    def remote_url(self, name: str) -> str | None:
        """The URL of the remote called ``name``; None when there is none."""
        for remote in self._repo.remotes:
            if remote.name == name:
                return str(remote.url)
        return None

    def fetch(
        self,
        refspecs: Sequence[str],
        *,
        remote: str = "origin",
        url: str | None = None,
        credentials: TokenCredentials | None = None,
        depth: int = 0,
    ) -> None:
        """Fetch ``refspecs`` from the remote called ``remote``, or from ``url`` (an anonymous
        remote: nothing written to the configuration); ``depth`` 0 is libgit2's default.
        KeyError: there is no remote called ``remote``."""
        try:
            remotes = self._repo.remotes
            source = remotes.create_anonymous(url) if url is not None else remotes[remote]
            source.fetch(list(refspecs), callbacks=credentials, depth=depth)
        except pygit2.GitError as exc:
            raise GitError(str(exc)) from None

    def push(self, url: str, refspecs: Sequence[str], credentials: TokenCredentials) -> None:
        """Push ``refspecs`` to ``url`` (an anonymous remote: nothing written to the
        configuration); a refusal is a GitError with libgit2's message."""
        remote = self._repo.remotes.create_anonymous(url)
        try:
            remote.push(list(refspecs), callbacks=credentials)
        except pygit2.GitError as exc:
            raise GitError(str(exc)) from None

    def commit_files(
        self,
        parent: str,
        files: Mapping[str, bytes],
        message: str,
        branch: str,
        committer: tuple[str, str],
    ) -> str:
        """Commit ``files`` (path -> content; a file keeps its mode) onto ``parent`` as
        ``committer`` now, and point local ``branch`` at it; the commit's id."""
        repo = self._repo
        base = repo[parent].peel(pygit2.Commit)
        entries: dict[str, Entry] = {}
        for path, data in files.items():
            old = base.tree[path] if path in base.tree else None
            if old is not None and not isinstance(old, pygit2.Tree):
                entries[path] = (repo.create_blob(data), int(old.filemode))
            else:
                entries[path] = data
        tree = tree_with(repo, base.tree, entries)
        who = pygit2.Signature(*committer, int(time.time()), 0)
        oid = repo.create_commit(None, who, who, message, tree, [base.id])
        repo.branches.local.create(branch, repo[oid].peel(pygit2.Commit), force=True)
        return str(oid)

    def three_dot_diff(self, base: str, head: str, context_lines: int = 3) -> list[FilePatch]:
        """The files of ``base...head`` (from their merge base to ``head``), renames found,
        as a pull request shows them."""
        repo = self._repo
        base_commit = repo.revparse_single(base).peel(pygit2.Commit)
        head_commit = repo.revparse_single(head).peel(pygit2.Commit)
        merge_base = repo.merge_base(base_commit.id, head_commit.id) or base_commit.id
        diff = repo.diff(repo[merge_base].peel(pygit2.Commit), head_commit,
                         context_lines=context_lines)
        diff.find_similar()
        out: list[FilePatch] = []
        for patch in diff:
            if patch is None:
                continue
            delta = patch.delta
            _, adds, dels = patch.line_stats
            out.append(FilePatch(path=delta.new_file.path, old_path=delta.old_file.path,
                                 status=delta.status_char(), text=patch.text or "",
                                 additions=adds, deletions=dels))
        return out
