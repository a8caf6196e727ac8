"""Remembering dismissals across pull requests: one pull request that edits the memory file.

The bot never writes the default branch itself. It commits ``.reviewbot/memory.json`` (the
memory at the base plus what people dismissed) on top of the base, on one branch, and keeps
one pull request for it open; once a maintainer merges it, every later review reads the new
memory at its base. Nothing of the pull request under review is checked out: the commit is
built from git objects.
"""

from __future__ import annotations

import time
from pathlib import Path

import github3
import pygit2
from pydantic import BaseModel

from reviewbot.github.inert import code_span, inert
from reviewbot.github.migration_pr import (
    MigrationPR,
    TokenCredentials,
    open_or_update_pr,
    push_branch,
)
from reviewbot.review.memory import MEMORY_FILE, Memory, Remembered, parse_memory

MEMORY_BRANCH = "reviewbot/memory"
COMMITTER = ("reviewbot", "reviewbot@users.noreply.github.com")


class MemoryUpdate(BaseModel):
    added: list[Remembered]
    pull: MigrationPR | None = None


def _memory_at(repo: pygit2.Repository, commit: pygit2.Commit) -> Memory:
    try:
        entry = commit.tree[MEMORY_FILE]
    except KeyError:
        return Memory()
    blob = repo[entry.id]
    if not isinstance(blob, pygit2.Blob):
        return Memory()
    return parse_memory(blob.data.decode("utf-8", errors="replace"), where=MEMORY_FILE)[0]


def _with_file(repo: pygit2.Repository, tree: pygit2.Tree, path: str, data: bytes) -> pygit2.Oid:
    """``tree`` with ``path`` (one level of directory) set to ``data``."""
    folder, name = path.split("/", 1)
    sub = repo.TreeBuilder(tree[folder].peel(pygit2.Tree)) if folder in tree else repo.TreeBuilder()
    sub.insert(name, repo.create_blob(data), pygit2.GIT_FILEMODE_BLOB)
    root = repo.TreeBuilder(tree)
    root.insert(folder, sub.write(), pygit2.GIT_FILEMODE_TREE)
    return root.write()


def _fetch_branch(repo: pygit2.Repository, remote_url: str, token: str) -> pygit2.Commit | None:
    """The memory branch as the remote has it now (an earlier, unmerged proposal), if any."""
    remote = repo.remotes.create_anonymous(remote_url)
    ref = f"refs/reviewbot/{MEMORY_BRANCH}"
    try:
        remote.fetch([f"+refs/heads/{MEMORY_BRANCH}:{ref}"],
                     callbacks=TokenCredentials(token, max_attempts=2, purpose="fetch"))
        return repo.revparse_single(ref).peel(pygit2.Commit)
    except (pygit2.GitError, KeyError):
        return None


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
    repo = pygit2.Repository(str(workspace))
    base = repo[base_sha].peel(pygit2.Commit)
    memory = _memory_at(repo, base)
    proposed = _fetch_branch(repo, remote_url, token)
    if proposed is not None:
        memory.add(_memory_at(repo, proposed).dismissed)  # keep what is still unmerged
    added = memory.add(entries)
    if not added:  # the base or the open proposal has them all
        return MemoryUpdate(added=[])
    tree = _with_file(repo, base.tree, MEMORY_FILE, memory.dumps().encode("utf-8"))
    who = pygit2.Signature(*COMMITTER, int(time.time()), 0)
    message = f"reviewbot: remember {len(memory.dismissed)} dismissed findings\n"
    commit = repo.create_commit(None, who, who, message, tree, [base.id])
    repo.branches.local.create(MEMORY_BRANCH, repo[commit].peel(pygit2.Commit), force=True)
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
