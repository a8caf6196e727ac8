"""Review threads over GraphQL (REST cannot see or resolve them): resolving the threads of
fixed findings, and reading which of our threads a person resolved."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

import github3

from reviewbot.errors import GitHubError
from reviewbot.github.tracking import fingerprints_in

_THREADS = """
query($owner: String!, $name: String!, $number: Int!, $after: String) {
  repository(owner: $owner, name: $name) {
    pullRequest(number: $number) {
      reviewThreads(first: 100, after: $after) {
        pageInfo { hasNextPage endCursor }
        nodes {
          id isResolved resolvedBy { login }
          comments(first: 1) { nodes { body author { login } } }
        }
      }
    }
  }
}
"""
_RESOLVE = """
mutation($thread: ID!) {
  resolveReviewThread(input: {threadId: $thread}) { thread { id isResolved } }
}
"""
MAX_PAGES = 20


def graphql_url(api_url: str) -> str:
    """GitHub's GraphQL endpoint next to a REST root (``/api/v3`` on Enterprise Server)."""
    root = api_url.rstrip("/")
    if root.endswith("/api/v3"):
        return root[: -len("/v3")] + "/graphql"
    return root + "/graphql"


def _graphql(gh: github3.GitHub, url: str, query: str, variables: dict[str, Any]) -> Any:
    response = gh.session.post(url, json={"query": query, "variables": variables})
    if response.status_code >= 400:
        raise GitHubError(f"GitHub GraphQL answered {response.status_code}")
    data = response.json()
    if data.get("errors"):
        raise GitHubError(f"GitHub GraphQL refused: {data['errors'][0].get('message', '')}")
    return data["data"]


def _same_bot(login: str, bot_login: str) -> bool:
    # GraphQL names a bot without the "[bot]" suffix that REST shows.
    return login == bot_login or f"{login}[bot]" == bot_login


def _our_threads(
    gh: github3.GitHub, url: str, repository: str, number: int, bot_login: str
) -> Iterator[tuple[dict[str, Any], set[str]]]:
    """Each review thread our comment started, with the fingerprints its marker names."""
    owner, name = repository.split("/", 1)
    after: str | None = None
    for _ in range(MAX_PAGES):
        variables = {"owner": owner, "name": name, "number": number, "after": after}
        data = _graphql(gh, url, _THREADS, variables)
        threads = data["repository"]["pullRequest"]["reviewThreads"]
        for node in threads["nodes"]:
            first = (node.get("comments") or {}).get("nodes") or []
            if not first:
                continue
            author = (first[0].get("author") or {}).get("login") or ""
            if _same_bot(author, bot_login):
                yield node, fingerprints_in(first[0].get("body") or "")
        if not threads["pageInfo"]["hasNextPage"]:
            break
        after = threads["pageInfo"]["endCursor"]


def resolve_fixed_threads(
    gh: github3.GitHub,
    *,
    api_url: str,
    repository: str,
    number: int,
    fixed: Iterable[str],
    bot_login: str,
) -> int:
    """Resolve our open threads whose finding is fixed; returns how many were resolved."""
    wanted = set(fixed)
    if not wanted:
        return 0
    url = graphql_url(api_url)
    to_resolve = [
        node["id"]
        for node, fps in _our_threads(gh, url, repository, number, bot_login)
        if not node.get("isResolved") and fps & wanted
    ]
    for thread in to_resolve:
        _graphql(gh, url, _RESOLVE, {"thread": thread})
    return len(to_resolve)


def resolved_by_people(
    gh: github3.GitHub, *, api_url: str, repository: str, number: int, bot_login: str
) -> dict[str, str]:
    """Fingerprint -> who resolved the thread of our comment on it (not the bot itself)."""
    out: dict[str, str] = {}
    for node, fps in _our_threads(gh, graphql_url(api_url), repository, number, bot_login):
        who = ((node.get("resolvedBy") or {}).get("login") or "") if node.get("isResolved") else ""
        if who and not _same_bot(who, bot_login):
            out.update({fp: who for fp in fps})
    return out
