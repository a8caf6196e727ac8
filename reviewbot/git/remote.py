"""Fetch from and push to a shared remote with the `git` program.

Machines that work on one repository together (the workers of a distributed migration)
meet at a remote: a bare repository path or an HTTP(S) URL. git's own transports are used
(libgit2's local transport refuses some fetches, and git's HTTP client reads the user's
configuration). A token for an HTTP remote is handed to git as a header for that one
command, never written to any configuration file.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence

import pygit2

from reviewbot.errors import GitError
from reviewbot.git.gitcli import git
from reviewbot.git.repo import Repo


def remote_url(repo: Repo, remote: str) -> str:
    """The URL of the remote named ``remote``, or ``remote`` itself when it is a URL or path."""
    with repo.lock:
        try:
            return str(repo.main.remotes[remote].url)
        except (KeyError, ValueError, pygit2.GitError):
            if "/" in remote or ":" in remote:
                return remote
            raise GitError(f"no remote named {remote!r}; pass a remote name, URL or path") from None


def _credentials(token: str | None) -> dict[str, str]:
    if not token:
        return {}
    basic = base64.b64encode(f"x-access-token:{token}".encode()).decode()
    return {
        "GIT_CONFIG_COUNT": "1",
        "GIT_CONFIG_KEY_0": "http.extraHeader",
        "GIT_CONFIG_VALUE_0": f"Authorization: Basic {basic}",
        "GIT_TERMINAL_PROMPT": "0",
    }


def fetch(repo: Repo, url: str, refspecs: Sequence[str], token: str | None = None) -> None:
    """``git fetch URL REFSPEC...`` into ``repo`` (no tags, quiet)."""
    if refspecs:
        git(
            repo.root,
            "fetch",
            "--quiet",
            "--no-tags",
            "--no-write-fetch-head",
            url,
            *refspecs,
            extra=_credentials(token),
        )


def push(repo: Repo, url: str, refspecs: Sequence[str], token: str | None = None) -> None:
    """``git push URL REFSPEC...`` from ``repo``; one command for all of them."""
    if refspecs:
        git(repo.root, "push", "--quiet", "--no-verify", url, *refspecs, extra=_credentials(token))


def remote_refs(repo: Repo, url: str, pattern: str, token: str | None = None) -> dict[str, str]:
    """``git ls-remote URL PATTERN``: ref name -> commit id."""
    out = git(repo.root, "ls-remote", url, pattern, extra=_credentials(token))
    refs: dict[str, str] = {}
    for line in out.splitlines():
        sha, _, name = line.partition("\t")
        if name:
            refs[name] = sha
    return refs
