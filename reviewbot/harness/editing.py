"""``run.edit`` and ``run.assemble``: agents that change code, each in a worktree of its own.

An editing agent gets a worktree from the pool, checked out at the run's commit
(HEAD of the repository when the run started), and the worktree's edit tools
(read, replace, write, list, grep; no shell). When it answers, the runtime
gates what it changed (files within the allowed globs, every changed file
parses, tests not weakened, the configured verify command passes) and commits
a passing change on a task branch of its own; the user's working tree and
branches are never touched. ``run.assemble`` merges chosen commits onto one
branch at tree level; a commit that conflicts is left out and named.

A verify command is a shell command: it comes from the user (configuration or a
built-in harness's parameter), never from a sandboxed harness.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Sequence
from pathlib import Path

import anyio.to_thread
from pydantic import BaseModel, Field

from reviewbot.config import Tier
from reviewbot.errors import ReviewbotError, UsageError
from reviewbot.git import Identity, Repo, WorktreePool, assemble, commit_worktree
from reviewbot.migrate.engine import worktree_changes
from reviewbot.migrate.gates import (
    GateResult,
    parse_gate,
    verify_gate,
    weakened_tests_gate,
)
from reviewbot.migrate.tools import worktree_tools
from reviewbot.runtime.api import Assembly, WorktreeChange
from reviewbot.runtime.run import Run

EDIT_TASK_SUFFIX = (
    "\n\nYou work in a checkout of the repository of your own: change files with the "
    "tools (read_file, replace_in_file, write_file, list_files, grep). Change only what the "
    "task needs. When you are done, answer with a one-line summary of the change."
)
BRANCH_PREFIX = "reviewbot/edits"


class EditAnswer(BaseModel):
    summary: str = Field(description="one line: what you changed and why")


class Editing:
    """Worktree agents of one run on one repository (the pool opens on first use)."""

    def __init__(self, workspace: Path, *, jobs: int, verify: str | None,
                 verify_timeout: float, identity: Identity | None = None) -> None:
        self._workspace = workspace
        # as the migration's task commits: the same edit is the same commit anywhere
        self._identity = identity
        self._jobs = max(1, jobs)
        self._verify = verify
        self._verify_timeout = verify_timeout
        self._repo: Repo | None = None
        self._base: str | None = None
        self._pool: WorktreePool | None = None
        self._count = 0

    def _open(self) -> tuple[Repo, str, WorktreePool]:
        if self._repo is None:
            self._repo = Repo.open(self._workspace)
            self._base = self._repo.resolve("HEAD")
        if self._pool is None:
            self._pool = WorktreePool(self._repo, size=self._jobs)
        assert self._base is not None
        return self._repo, self._base, self._pool

    async def close(self) -> None:
        if self._pool is not None:
            await self._pool.close()
            self._pool = None

    async def edit(
        self, run: Run, prompt: str, *, role: str, paths: Sequence[str], verify: str | None,
        context: Sequence[str], tier: Tier | str | None, phase: str | None,
    ) -> WorktreeChange:
        repo, base, pool = await anyio.to_thread.run_sync(self._open)
        self._count += 1
        branch = f"{BRANCH_PREFIX}/{_slug(run.run_id)}-{self._count}"
        command = verify if verify is not None else self._verify
        async with pool.checkout(base) as wt:
            answer = await run.agent(
                prompt + EDIT_TASK_SUFFIX, schema=EditAnswer, role=role,
                tools=worktree_tools(wt.path), context=context, tier=tier, phase=phase,
            )
            changes = await anyio.to_thread.run_sync(worktree_changes, repo, wt)
            changed = [c.path for c in changes]
            if not changed:
                return WorktreeChange(failed_gate="empty", reason="the agent changed nothing")
            outside = [p for p in changed
                       if paths and not any(fnmatch.fnmatch(p, g) for g in paths)]
            if outside:
                return WorktreeChange(files=changed, failed_gate="scope",
                                      reason=f"changed files outside {list(paths)}: {outside}")
            gates: list[GateResult] = [parse_gate(changes), weakened_tests_gate(changes)]
            if command:
                gates.append(await verify_gate(command, wt.path, timeout=self._verify_timeout))
            failed = next((g for g in gates if not g.passed), None)
            if failed is not None:
                return WorktreeChange(files=changed, failed_gate=failed.gate,
                                      reason=failed.output[:2_000])
            commit = await anyio.to_thread.run_sync(
                lambda: commit_worktree(wt, answer.summary[:200] or "reviewbot edit", branch,
                                        paths=changed, identity=self._identity)
            )
        return WorktreeChange(commit=commit, branch=branch, files=changed, passed=True,
                              reason=answer.summary)

    async def assemble(self, commits: Sequence[str], branch: str) -> Assembly:
        if not commits:
            raise UsageError("run.assemble needs at least one commit")
        repo, base, _ = await anyio.to_thread.run_sync(self._open)
        if not branch.startswith("reviewbot/") and _branch_exists(repo, branch):
            raise UsageError(f"run.assemble will not move your branch {branch!r}; assemble onto "
                             "a new branch or one under reviewbot/")
        result = await anyio.to_thread.run_sync(
            lambda: assemble(repo, base, [(c, c) for c in commits], branch,
                             identity=self._identity)
        )
        return Assembly(branch=branch, head=result.head, applied=list(result.merged),
                        conflicts=sorted(result.conflicts))


def _branch_exists(repo: Repo, branch: str) -> bool:
    try:
        repo.resolve(f"refs/heads/{branch}")
    except ReviewbotError:
        return False
    return True


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-") or "run"
