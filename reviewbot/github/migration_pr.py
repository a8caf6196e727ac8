"""Migration results on GitHub: push the result branch, open or update its one pull request."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import github3
import pygit2
from pydantic import BaseModel

from reviewbot.errors import GitError, GitHubError

MAX_PR_BODY = 60_000
PR_MARKER = "<!-- reviewbot:migration -->"


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


def push_branch(
    repo_path: Path, branch: str, remote_url: str, token: str, *, max_attempts: int = 3
) -> str:
    """Force-push local ``branch`` to ``remote_url``; returns the pushed commit."""
    repo = pygit2.Repository(str(repo_path))
    local = repo.branches.local.get(branch)
    if local is None:
        raise GitError(
            f"branch {branch} does not exist in {repo_path}; the migration produced no branch"
        )
    # An anonymous remote: nothing is written to the user's git config.
    remote = repo.remotes.create_anonymous(remote_url)
    callbacks = TokenCredentials(token, max_attempts=max_attempts)
    try:
        remote.push([f"+refs/heads/{branch}:refs/heads/{branch}"], callbacks=callbacks)
    except pygit2.GitError as exc:
        # libgit2 messages may echo the URL; ours never carries the token.
        raise GitHubError(
            f"pushing {branch} failed: {exc}; check the token's contents: write permission"
        ) from None
    return str(local.target)


class MigrationPR(BaseModel):
    number: int
    url: str
    created: bool


def open_or_update_pr(
    repo: github3.repos.Repository, *, branch: str, base: str, title: str, body: str
) -> MigrationPR:
    """One pull request per migration branch: create it, or update its title and body."""
    owner = repo.owner.login
    text = (
        body if len(body) <= MAX_PR_BODY else body[: MAX_PR_BODY - 40] + "\n\n… (report truncated)"
    )
    text = f"{text}\n\n{PR_MARKER}"
    existing = next(iter(repo.pull_requests(state="open", head=f"{owner}:{branch}")), None)
    if existing is not None:
        pull = repo.pull_request(existing.number)
        if pull is None or not pull.update(title=title, body=text):
            raise GitHubError(f"GitHub refused to update pull request #{existing.number}")
        return MigrationPR(number=pull.number, url=str(pull.html_url), created=False)
    pull = repo.create_pull(title=title, base=base, head=branch, body=text)
    if pull is None:
        raise GitHubError(f"GitHub refused to open a pull request for {branch}")
    return MigrationPR(number=pull.number, url=str(pull.html_url), created=True)
