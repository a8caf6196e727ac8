"""Migration results on GitHub: push the result branch, open or update its one pull request."""

from __future__ import annotations

from pathlib import Path

import github3
from pydantic import BaseModel

from reviewbot.errors import GitError, GitHubError
from reviewbot.git import PlainRepo, TokenCredentials

MAX_PR_BODY = 60_000
PR_MARKER = "<!-- reviewbot:migration -->"


def push_branch(
    repo_path: Path, branch: str, remote_url: str, token: str, *, max_attempts: int = 3
) -> str:
    """Force-push local ``branch`` to ``remote_url``; returns the pushed commit."""
    repo = PlainRepo(repo_path)
    target = repo.branch_target(branch)
    if target is None:
        raise GitError(
            f"branch {branch} does not exist in {repo_path}; the migration produced no branch"
        )
    # An anonymous remote: nothing is written to the user's git config.
    callbacks = TokenCredentials(token, max_attempts=max_attempts)
    try:
        repo.push(remote_url, [f"+refs/heads/{branch}:refs/heads/{branch}"], callbacks)
    except GitError as exc:
        # libgit2 messages may echo the URL; ours never carries the token.
        raise GitHubError(
            f"pushing {branch} failed: {exc}; check the token's contents: write permission"
        ) from None
    return target


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
