"""Remembering dismissals across pull requests: one pull request that edits the memory file.

The bot never writes the default branch itself. It commits ``.reviewbot/memory.json`` (the
memory at the base plus what people dismissed) on top of the base, on one branch, and keeps
one pull request for it open; once a maintainer merges it, every later review reads the new
memory at its base. Nothing of the pull request under review is checked out: the commit is
built from git objects.
"""

from __future__ import annotations

from pathlib import Path

import github3
from pydantic import BaseModel

from reviewbot.errors import GitError
from reviewbot.git import PlainRepo, TokenCredentials
from reviewbot.github.inert import code_span, inert
from reviewbot.github.migration_pr import MigrationPR, open_or_update_pr, push_branch
from reviewbot.review.memory import MEMORY_FILE, Memory, Remembered, parse_memory

MEMORY_BRANCH = "reviewbot/memory"
COMMITTER = ("reviewbot", "reviewbot@users.noreply.github.com")


class MemoryUpdate(BaseModel):
    added: list[Remembered]
    pull: MigrationPR | None = None


def _memory_at(repo: PlainRepo, commit: str) -> Memory:
    data = repo.read_file(commit, MEMORY_FILE)
    if data is None:
        return Memory()
    return parse_memory(data.decode("utf-8", errors="replace"), where=MEMORY_FILE)[0]


def _fetch_branch(repo: PlainRepo, remote_url: str, token: str) -> str | None:
    """The memory branch as the remote has it now (an earlier, unmerged proposal), if any."""
    ref = f"refs/reviewbot/{MEMORY_BRANCH}"
    try:
        repo.fetch([f"+refs/heads/{MEMORY_BRANCH}:{ref}"], url=remote_url,
                   credentials=TokenCredentials(token, max_attempts=2, purpose="fetch"))
    except (GitError, KeyError):
        return None
    return repo.resolve(ref)


def propose_memory(
    gh_repo: github3.repos.Repository,
    workspace: Path,
    *,
    base_ref: str,
    base_sha: str,
    entries: list[Remembered],
    remote_url: str,
    token: str,
    push_attempts: int = 3,
) -> MemoryUpdate:
    """Commit the memory with ``entries`` on the memory branch and open or update its pull
    request; nothing is pushed when the base or the open proposal remembers them all."""
    repo = PlainRepo(workspace)
    memory = _memory_at(repo, base_sha)
    proposed = _fetch_branch(repo, remote_url, token)
    if proposed is not None:
        memory.add(_memory_at(repo, proposed).dismissed)  # keep what is still unmerged
    added = memory.add(entries)
    if not added:  # the base or the open proposal has them all
        return MemoryUpdate(added=[])
    message = f"reviewbot: remember {len(memory.dismissed)} dismissed findings\n"
    repo.commit_files(base_sha, {MEMORY_FILE: memory.dumps().encode("utf-8")}, message,
                      MEMORY_BRANCH, COMMITTER)
    push_branch(workspace, MEMORY_BRANCH, remote_url, token, max_attempts=push_attempts)
    rows = [
        f"- {code_span(r.path[:120])}: {inert(r.title, limit=160, inline=True)}, dismissed by "
        f"{code_span(r.by[:60])}" + (f" in #{r.pull}" if r.pull else "")
        + (f": {inert(r.reason, limit=200, inline=True)}" if r.reason else "")
        for r in memory.dismissed[:200]
    ]
    body = "\n".join([
        f"Findings people dismissed, for `{MEMORY_FILE}`: once this is merged, reviewbot "
        "does not report findings like them again (it lists them as dismissed before).",
        "",
        *rows,
        "",
        "Edit or drop entries here, or later with `reviewbot memory forget ID`.",
    ])
    title = f"reviewbot: remember {len(memory.dismissed)} dismissed findings"
    pull = open_or_update_pr(gh_repo, branch=MEMORY_BRANCH, base=base_ref, title=title, body=body)
    return MemoryUpdate(added=added, pull=pull)
