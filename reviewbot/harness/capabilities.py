"""What a harness may reach beyond model calls: the repository, read-only.

One implementation for both kinds of harness: a sandboxed one asks over the channel
(``reviewbot.harness.host`` answers with :meth:`RepoAccess.call`), a built-in one gets
the same object as ``run.repo``. Everything is read from the object store at a
commit, never from the working tree, and every answer is plain, size-capped data.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import anyio.to_thread

from reviewbot.code import changed_symbols, find_calls
from reviewbot.errors import UsageError
from reviewbot.git import ChangeSet, Repo, RepoView
from reviewbot.models import Tool
from reviewbot.review.tools import review_tools

MAX_FILES = 5_000
MAX_READ_BYTES = 1024 * 1024
MAX_GREP_HITS = 500
MAX_SITES = 2_000
MAX_DIFF_FILES = 1_000
MAX_PATCH_CHARS = 20_000

NO_REPOSITORY = ("run.repo and tools=\"repo\" need a repository; run the harness inside one "
                 "(or pass --repo)")


class RepoAccess:
    """The repository at ``rev`` (default HEAD) of the run's workspace, opened on first use."""

    def __init__(self, workspace: Path | None, rev: str = "HEAD") -> None:
        self._workspace = workspace
        self._rev = rev
        self._repo: Repo | None = None
        self._view: RepoView | None = None
        self._tools: tuple[Tool, ...] | None = None

    def repository(self) -> Repo:
        if self._repo is None:
            if self._workspace is None:
                raise UsageError(NO_REPOSITORY)
            self._repo = Repo.open(self._workspace)
        return self._repo

    def view(self) -> RepoView:
        if self._view is None:
            self._view = RepoView.at(self.repository(), self._rev)
        return self._view

    def tools(self, name: str) -> tuple[Tool, ...]:
        """The tool set granted by name: ``"none"`` or ``"repo"`` (the finders' read-only tools)."""
        if name == "none":
            return ()
        if self._tools is None:
            self._tools = tuple(review_tools(self.view()))
        return self._tools

    # the calls, synchronous ---------------------------------------------------------

    def _files(self, prefix: str = "") -> list[str]:
        view = self.view()
        return (view.files(prefix) if prefix else view.files())[:MAX_FILES]

    def _read(self, path: str) -> str:
        data = self.view().read_bytes(path)
        if len(data) > MAX_READ_BYTES:
            raise UsageError(f"{path} is larger than {MAX_READ_BYTES} bytes; give it to an "
                             "agent with tools=\"repo\" instead")
        return data.decode("utf-8", "replace")

    def _grep(self, pattern: str, prefix: str = "") -> list[dict[str, Any]]:
        view = self.view()
        paths = view.files(prefix) if prefix else None
        hits = view.grep(pattern, paths=paths, max_hits=MAX_GREP_HITS)
        return [{"path": h.path, "line": h.line, "text": h.text[:300]} for h in hits]

    def _find_calls(self, symbol: str, prefix: str = "") -> list[dict[str, Any]]:
        """Call sites of a qualified symbol (``requests.get``), resolved through imports."""
        if not symbol.strip():
            raise UsageError("run.repo.find_calls needs a symbol such as 'requests.get'")
        view = self.view()
        paths = view.files(prefix) if prefix else None
        search = find_calls(view, symbol, paths=paths, jobs=1)
        return [
            {"path": s.path, "line": s.start_line, "column": s.start_col,
             "enclosing": s.enclosing, "text": s.snippet[:300], "uncertain": s.uncertain}
            for s in search.sites[:MAX_SITES]
        ]

    def _change(self, base: str) -> ChangeSet:
        if not base:
            raise UsageError("run.repo.diff needs base= (a commit, branch or tag)")
        return ChangeSet.between(self.repository(), base, self.view().commit)

    def _diff(self, base: str) -> list[dict[str, Any]]:
        """The change from ``base`` to the run's commit, a file each (hunks, added lines)."""
        change = self._change(base)
        return [
            {"path": f.path, "old_path": f.old_path, "status": str(f.status),
             "added_lines": sorted(f.added_lines), "removed_lines": sorted(f.removed_lines),
             "hunks": [h.model_dump() for h in f.hunks], "patch": f.patch[:MAX_PATCH_CHARS]}
            for f in change.files[:MAX_DIFF_FILES]
        ]

    def _changed_symbols(self, base: str) -> list[dict[str, Any]]:
        """The definitions the change from ``base`` touches, with their callers."""
        change = self._change(base)
        repo = self.repository()
        symbols = changed_symbols(self.view(), change, base_view=RepoView.at(repo, change.base),
                                  jobs=1)
        return [s.model_dump(mode="json") for s in symbols[:MAX_SITES]]

    # the API: each call runs off the event loop and returns JSON data ----------------

    async def files(self, prefix: str = "") -> list[str]:
        return await anyio.to_thread.run_sync(self._files, prefix)

    async def read(self, path: str) -> str:
        return await anyio.to_thread.run_sync(self._read, path)

    async def grep(self, pattern: str, prefix: str = "") -> list[dict[str, Any]]:
        return await anyio.to_thread.run_sync(self._grep, pattern, prefix)

    async def find_calls(self, symbol: str, prefix: str = "") -> list[dict[str, Any]]:
        return await anyio.to_thread.run_sync(self._find_calls, symbol, prefix)

    async def diff(self, base: str) -> list[dict[str, Any]]:
        return await anyio.to_thread.run_sync(self._diff, base)

    async def changed_symbols(self, base: str) -> list[dict[str, Any]]:
        return await anyio.to_thread.run_sync(self._changed_symbols, base)

    async def call(self, method: str, *, path: str = "", pattern: str = "",
                   base: str = "") -> Any:
        """One ``run.repo`` call relayed from a sandboxed harness, by name."""
        if method in ("files", "read"):
            return await getattr(self, method)(path)
        if method in ("grep", "find_calls"):
            return await getattr(self, method)(pattern, path)
        if method in ("diff", "changed_symbols"):
            return await getattr(self, method)(base)
        raise UsageError(f"run.repo has no method {method!r}")
