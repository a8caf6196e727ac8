"""A loopback GitHub REST server: real HTTP on 127.0.0.1, stateful, for offline tests.

It answers the subset of the REST API that reviewbot's GitHub surface uses (repositories,
pull requests with their files, reviews, review comments, issue comments, collaborator
permissions, check runs) with whole objects built from recorded response bodies (the
``fixtures_dir`` holds the REST examples: ``pull_request_example.json`` and friends), so a real
client such as github3.py parses them exactly as it parses GitHub's. Like GitHub it:

- rejects a review whose comments point at lines that are not part of the pull request's diff
  (422 ``pull_request_review_thread.line must be part of the diff``);
- sends the primary rate-limit headers (``x-ratelimit-*``) on every answer and, when asked,
  answers a number of requests with a secondary rate limit (403 with ``retry-after``);
- refuses requests without the expected token (401), writes when ``read_only`` is set (403,
  as for a fork's token), and more than 50 annotations per check-run request (422);
- lists review comments with their ``reactions`` summary, and takes replies in a thread and
  reactions on review comments;
- answers the two GraphQL operations of thread resolution (``reviewThreads``,
  ``resolveReviewThread``) on ``POST /graphql``.

Scenario helpers: :meth:`GitHubServer.add_repo` (optionally backed by a bare git repository
that pushes land in), :meth:`~GitHubServer.add_pull` with files from :func:`files_from_git`,
:meth:`~GitHubServer.push_to_pull`, :meth:`~GitHubServer.set_permission`,
:meth:`~GitHubServer.reply_to_review_comment`, :meth:`~GitHubServer.add_reaction`,
:meth:`~GitHubServer.inject_secondary_rate_limit`, :meth:`~GitHubServer.exhaust_primary_rate_limit`.

Every request is recorded in :attr:`GitHubServer.requests` for assertions.
"""

from __future__ import annotations

import itertools
import json
import re
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

_GITHUB_API = "https://api.github.com"
_TEMPLATE_REPO = "octocat/Hello-World"
_HUNK = re.compile(r"^@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@")
_NOW = "2026-11-21T12:00:00Z"
_REACTIONS = ("+1", "-1", "laugh", "confused", "heart", "hooray", "rocket", "eyes")


@dataclass
class RecordedRequest:
    method: str
    path: str
    query: dict[str, list[str]]
    body: Any
    headers: dict[str, str]
    status: int = 0


@dataclass
class PullFile:
    filename: str
    status: str  # added | modified | removed | renamed
    patch: str | None
    previous_filename: str | None = None
    additions: int = 0
    deletions: int = 0


@dataclass
class Pull:
    number: int
    title: str
    body: str | None
    head_ref: str
    head_sha: str
    base_ref: str
    base_sha: str
    author: str
    head_repo: str  # "owner/name"; differs from the base repository for a fork
    draft: bool = False
    state: str = "open"
    files: list[PullFile] = field(default_factory=list)


@dataclass
class RepoState:
    owner: str
    name: str
    default_branch: str = "main"
    permissions: dict[str, str] = field(default_factory=dict)  # login -> admin|write|read|none
    pulls: dict[int, Pull] = field(default_factory=dict)
    reviews: dict[int, list[dict[str, Any]]] = field(default_factory=dict)
    review_comments: dict[int, list[dict[str, Any]]] = field(default_factory=dict)
    issue_comments: dict[int, list[dict[str, Any]]] = field(default_factory=dict)
    check_runs: dict[int, dict[str, Any]] = field(default_factory=dict)
    branches: dict[str, str] = field(default_factory=dict)
    resolved_threads: set[str] = field(default_factory=set)
    thread_resolvers: dict[str, str] = field(default_factory=dict)  # thread id -> login
    reactions: dict[int, list[dict[str, Any]]] = field(default_factory=dict)  # comment id -> list
    git_dir: Path | None = None  # a repository whose branches back this one (pushes land there)

    def branch_sha(self, ref: str) -> str | None:
        if self.git_dir is not None:
            from reviewbot.git import PlainRepo

            return PlainRepo(self.git_dir).branch_target(ref)
        return self.branches.get(ref)

    @property
    def full_name(self) -> str:
        return f"{self.owner}/{self.name}"


def diff_lines(patch: str | None) -> list[tuple[set[int], set[int]]]:
    """Per hunk of a unified patch: (new-side line numbers, old-side line numbers) it shows.

    A review comment may sit on any line a hunk shows: added or context lines on the RIGHT,
    removed or context lines on the LEFT.
    """
    hunks: list[tuple[set[int], set[int]]] = []
    if not patch:
        return hunks
    old = new = 0
    right: set[int] = set()
    left: set[int] = set()
    for raw in patch.splitlines():
        m = _HUNK.match(raw)
        if m:
            right, left = set(), set()
            hunks.append((right, left))
            old, new = int(m.group(1)), int(m.group(3))
            continue
        if not hunks or raw.startswith("\\"):
            continue
        tag = raw[:1]
        if tag == "+":
            right.add(new)
            new += 1
        elif tag == "-":
            left.add(old)
            old += 1
        else:
            right.add(new)
            left.add(old)
            new += 1
            old += 1
    return hunks


def files_from_git(repo_path: str | Path, base: str, head: str) -> list[PullFile]:
    """The pull-request files of ``base...head`` in a local repository, as GitHub lists them."""
    from reviewbot.git import PlainRepo

    status_names = {"A": "added", "D": "removed", "M": "modified", "R": "renamed"}
    out: list[PullFile] = []
    for patch in PlainRepo(repo_path).three_dot_diff(base, head):
        # GitHub's `patch` field starts at the first hunk header.
        start = patch.text.find("\n@@")
        body = patch.text[start + 1 :] if start >= 0 else None
        out.append(
            PullFile(
                filename=patch.path,
                status=status_names.get(patch.status, "modified"),
                patch=body.rstrip("\n") if body else None,
                previous_filename=patch.old_path if patch.status == "R" else None,
                additions=patch.additions,
                deletions=patch.deletions,
            )
        )
    return out


class GitHubServer:
    """A stateful GitHub REST API on ``http://127.0.0.1:<port>``; use as a context manager."""

    def __init__(self, fixtures_dir: str | Path, *, token: str = "ghs_loopbacktoken") -> None:
        self._fixtures = Path(fixtures_dir)
        self.token = token
        self.repos: dict[str, RepoState] = {}
        self.requests: list[RecordedRequest] = []
        self.read_only = False  # True: every write is refused as for a fork's read-only token
        self.rate_limit = 5000
        self.rate_remaining = 5000
        self.rate_reset = int(time.time()) + 3600  # when the primary window starts over
        self._secondary: list[int] = []  # retry-after seconds for the next limited answers
        self._ids = itertools.count(1000)
        self._lock = threading.RLock()
        self._templates = {
            name: (self._fixtures / f"{name}_example.json").read_text(encoding="utf-8")
            for name in (
                "pull_request",
                "pull_file",
                "pull_review",
                "review_comment",
                "comment",
                "repo",
                "check_run",
            )
        }
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # ----------------------------------------------------------------- lifecycle
    @property
    def url(self) -> str:
        assert self._httpd is not None, "server not started"
        host, port = self._httpd.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> GitHubServer:
        server = self

        class Handler(_Handler):
            owner = server

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None

    def __enter__(self) -> GitHubServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ------------------------------------------------------------------ scenario
    def add_repo(
        self, full_name: str, *, default_branch: str = "main", git_dir: str | Path | None = None
    ) -> RepoState:
        owner, name = full_name.split("/", 1)
        with self._lock:
            state = self.repos.setdefault(full_name, RepoState(owner, name, default_branch))
            if git_dir is not None:
                state.git_dir = Path(git_dir)
            state.permissions.setdefault(owner, "admin")
            return state

    def set_permission(self, full_name: str, login: str, permission: str) -> None:
        self.repos[full_name].permissions[login] = permission

    def add_pull(
        self,
        full_name: str,
        *,
        number: int,
        base_sha: str,
        head_sha: str,
        files: list[PullFile],
        title: str = "A change",
        body: str | None = None,
        author: str = "contributor",
        head_ref: str = "feature",
        base_ref: str = "main",
        head_repo: str | None = None,
        draft: bool = False,
    ) -> Pull:
        state = self.repos[full_name]
        pull = Pull(
            number=number,
            title=title,
            body=body,
            head_ref=head_ref,
            head_sha=head_sha,
            base_ref=base_ref,
            base_sha=base_sha,
            author=author,
            head_repo=head_repo or full_name,
            draft=draft,
            files=files,
        )
        with self._lock:
            state.pulls[number] = pull
        return pull

    def push_to_pull(
        self, full_name: str, number: int, *, head_sha: str, files: list[PullFile]
    ) -> None:
        """A new push to the pull request's head branch: new head and a new diff."""
        with self._lock:
            pull = self.repos[full_name].pulls[number]
            pull.head_sha = head_sha
            pull.files = files

    def add_issue_comment(
        self, full_name: str, number: int, body: str, *, author: str
    ) -> dict[str, Any]:
        with self._lock:
            return self._new_issue_comment(self.repos[full_name], number, body, author)

    def reply_to_review_comment(
        self, full_name: str, number: int, comment_id: int, body: str, *, author: str
    ) -> dict[str, Any]:
        """A reply in the thread of review comment ``comment_id``, as a person writes one."""
        with self._lock:
            status, data = self._reply(self.repos[full_name], number, comment_id, body, author)
            assert status == 201, data
            return data

    def add_reaction(
        self, full_name: str, comment_id: int, content: str, *, author: str
    ) -> dict[str, Any]:
        """A reaction (``+1``, ``-1``, ``eyes``...) on a pull request review comment."""
        with self._lock:
            status, data = self._react(self.repos[full_name], comment_id, content, author)
            assert status in (200, 201), data
            return data

    def resolve_thread(self, full_name: str, comment_id: int, *, author: str) -> str:
        """A person clicks "Resolve conversation" on the thread review comment ``comment_id``
        started; returns the thread's id."""
        with self._lock:
            repo = self.repos[full_name]
            thread = f"PRRT_{comment_id}"
            repo.resolved_threads.add(thread)
            repo.thread_resolvers[thread] = author
            return thread

    def exhaust_primary_rate_limit(self, *, reset_in: int = 1) -> None:
        """Use up the primary limit: 403 answers until ``x-ratelimit-reset``."""
        with self._lock:
            self.rate_remaining = 0
            self.rate_reset = int(time.time()) + reset_in

    def inject_secondary_rate_limit(self, count: int = 1, retry_after: int = 1) -> None:
        """Answer the next ``count`` requests with GitHub's secondary rate limit (403)."""
        with self._lock:
            self._secondary.extend([retry_after] * count)

    # ------------------------------------------------------------ observations
    def calls(self, method: str, pattern: str) -> list[RecordedRequest]:
        rx = re.compile(pattern)
        return [r for r in self.requests if r.method == method and rx.search(r.path)]

    # ----------------------------------------------------------- object shapes
    def _rewrite(self, text: str, repo: RepoState) -> str:
        return text.replace(_TEMPLATE_REPO, repo.full_name).replace(_GITHUB_API, self.url)

    def _user(self, login: str) -> dict[str, Any]:
        user: dict[str, Any] = json.loads(
            self._rewrite(self._templates["comment"], self._any_repo())
        )["user"]
        user = json.loads(
            json.dumps(user)
            .replace('"octocat"', json.dumps(login))
            .replace("/octocat", f"/{login}")
        )
        user["login"] = login
        user["id"] = abs(hash(login)) % 10_000_000
        user["type"] = "Bot" if login.endswith("[bot]") else "User"
        return user

    def _any_repo(self) -> RepoState:
        return next(iter(self.repos.values()))

    def _repo_json(self, repo: RepoState, full_name: str | None = None) -> dict[str, Any]:
        owner, name = (full_name or repo.full_name).split("/", 1)
        target = RepoState(owner, name)
        data: dict[str, Any] = json.loads(self._rewrite(self._templates["repo"], target))
        data["name"], data["full_name"] = name, f"{owner}/{name}"
        data["owner"] = self._user(owner)
        data["default_branch"] = repo.default_branch
        data["fork"] = full_name is not None and full_name != repo.full_name
        return data

    def _pull_json(self, repo: RepoState, pull: Pull) -> dict[str, Any]:
        text = self._rewrite(self._templates["pull_request"], repo).replace(
            "/1347", f"/{pull.number}"
        )
        data: dict[str, Any] = json.loads(text)
        data.update(
            number=pull.number,
            id=pull.number * 7 + 1,
            title=pull.title,
            body=pull.body,
            body_html=pull.body,
            body_text=pull.body,
            state=pull.state,
            draft=pull.draft,
            locked=False,
            user=self._user(pull.author),
            merged_at=None,
            closed_at=None,
            created_at=_NOW,
            updated_at=_NOW,
        )
        head_owner = pull.head_repo.split("/", 1)[0]
        data["head"].update(
            ref=pull.head_ref,
            sha=pull.head_sha,
            label=f"{head_owner}:{pull.head_ref}",
            user=self._user(head_owner),
            repo=self._repo_json(repo, pull.head_repo),
        )
        data["base"].update(
            ref=pull.base_ref,
            sha=pull.base_sha,
            label=f"{repo.owner}:{pull.base_ref}",
            user=self._user(repo.owner),
            repo=self._repo_json(repo),
        )
        return data

    def _file_json(self, repo: RepoState, pull: Pull, f: PullFile) -> dict[str, Any]:
        data: dict[str, Any] = json.loads(self._rewrite(self._templates["pull_file"], repo))
        data.update(
            filename=f.filename,
            status=f.status,
            additions=f.additions,
            deletions=f.deletions,
            changes=f.additions + f.deletions,
            sha=pull.head_sha,
        )
        if f.patch is None:
            data.pop("patch", None)
        else:
            data["patch"] = f.patch
        if f.previous_filename:
            data["previous_filename"] = f.previous_filename
        return data

    def _new_issue_comment(
        self, repo: RepoState, number: int, body: str, author: str
    ) -> dict[str, Any]:
        data: dict[str, Any] = json.loads(self._rewrite(self._templates["comment"], repo))
        cid = next(self._ids)
        for key in ("path", "position", "line", "commit_id"):
            data.pop(key, None)
        data.update(
            id=cid,
            node_id=f"IC_{cid}",
            **self._authored(repo, body, author),
            url=f"{self.url}/repos/{repo.full_name}/issues/comments/{cid}",
            html_url=f"https://github.com/{repo.full_name}/pull/{number}#issuecomment-{cid}",
            issue_url=f"{self.url}/repos/{repo.full_name}/issues/{number}",
            created_at=_NOW,
            updated_at=_NOW,
        )
        repo.issue_comments.setdefault(number, []).append(data)
        return data

    def _authored(self, repo: RepoState, body: str, author: str) -> dict[str, Any]:
        """The body fields and author fields every comment object carries."""
        return {"body": body, "body_html": body, "body_text": body, "user": self._user(author),
                "author_association": self._association(repo, author)}

    def _association(self, repo: RepoState, login: str) -> str:
        if login == repo.owner:
            return "OWNER"
        return (
            "MEMBER"
            if repo.permissions.get(login) in ("admin", "maintain", "write")
            else "CONTRIBUTOR"
        )

    # ------------------------------------------------------------------ routing
    def handle(
        self, method: str, path: str, query: dict[str, list[str]], body: Any
    ) -> tuple[int, Any]:
        with self._lock:
            return self._route(method, path, query, body)

    def _route(
        self, method: str, path: str, query: dict[str, list[str]], body: Any
    ) -> tuple[int, Any]:
        parts = [p for p in path.split("/") if p]
        if parts == ["rate_limit"] and method == "GET":
            core = {
                "limit": self.rate_limit,
                "remaining": self.rate_remaining,
                "reset": self.rate_reset,
                "used": self.rate_limit - self.rate_remaining,
            }
            return 200, {"resources": {"core": core}, "rate": core}
        if parts == ["graphql"] and method == "POST":
            return self._graphql(body)
        if len(parts) < 3 or parts[0] != "repos":
            return 404, _not_found()
        repo = self.repos.get(f"{parts[1]}/{parts[2]}")
        if repo is None:
            return 404, _not_found()
        rest = parts[3:]
        if not rest and method == "GET":
            return 200, self._repo_json(repo)
        match rest:
            case ["pulls"] if method == "GET":
                return 200, self._list_pulls(repo, query)
            case ["pulls"] if method == "POST":
                return self._create_pull(repo, body)
            case ["pulls", num] if method == "GET":
                pull = repo.pulls.get(int(num))
                return (200, self._pull_json(repo, pull)) if pull else (404, _not_found())
            case ["pulls", num] if method == "PATCH":
                return self._update_pull(repo, int(num), body)
            case ["pulls", num, "files"] if method == "GET":
                pull = repo.pulls.get(int(num))
                if pull is None:
                    return 404, _not_found()
                return 200, [self._file_json(repo, pull, f) for f in pull.files]
            case ["pulls", num, "reviews"] if method == "GET":
                return 200, repo.reviews.get(int(num), [])
            case ["pulls", num, "reviews"] if method == "POST":
                return self._create_review(repo, int(num), body)
            case ["pulls", num, "comments"] if method == "GET":
                listed = repo.review_comments.get(int(num), [])
                return 200, [self._with_rollup(repo, c) for c in listed]
            case ["pulls", num, "comments", cid, "replies"] if method == "POST":
                if not isinstance(body, dict) or not isinstance(body.get("body"), str):
                    return 422, _invalid("body is missing")
                return self._reply(repo, int(num), int(cid), body["body"], self._bot_login)
            case ["pulls", "comments", cid, "reactions"] if method == "GET":
                wanted = query.get("content", [None])[0]
                listed = repo.reactions.get(int(cid), [])
                return 200, [r for r in listed if wanted is None or r["content"] == wanted]
            case ["pulls", "comments", cid, "reactions"] if method == "POST":
                if not isinstance(body, dict) or body.get("content") not in _REACTIONS:
                    return 422, _invalid("content is not a valid reaction", field="content")
                return self._react(repo, int(cid), body["content"], self._bot_login)
            case ["issues", num, "comments"] if method == "GET":
                return 200, repo.issue_comments.get(int(num), [])
            case ["issues", num, "comments"] if method == "POST":
                if not isinstance(body, dict) or not isinstance(body.get("body"), str):
                    return 422, _invalid("body is missing")
                return 201, self._new_issue_comment(repo, int(num), body["body"], self._bot_login)
            case ["issues", "comments", cid] if method in ("GET", "PATCH"):
                return self._issue_comment(repo, int(cid), method, body)
            case ["collaborators", login, "permission"] if method == "GET":
                permission = repo.permissions.get(login, "none")
                role = {
                    "admin": "admin",
                    "maintain": "maintain",
                    "write": "write",
                    "read": "read",
                }.get(permission, "none")
                legacy = "write" if permission == "maintain" else permission
                return 200, {"permission": legacy, "role_name": role, "user": self._user(login)}
            case ["check-runs"] if method == "POST":
                return self._check_run(repo, None, body)
            case ["check-runs", rid] if method == "PATCH":
                return self._check_run(repo, int(rid), body)
        return 404, _not_found()

    _bot_login = "github-actions[bot]"

    def _find_review_comment(self, repo: RepoState, cid: int) -> dict[str, Any] | None:
        return next((c for cs in repo.review_comments.values() for c in cs if c["id"] == cid), None)

    def _reply(
        self, repo: RepoState, number: int, cid: int, body: str, author: str
    ) -> tuple[int, Any]:
        """``POST .../pulls/{n}/comments/{id}/replies``: the reply joins the thread's root."""
        target = self._find_review_comment(repo, cid)
        if target is None or target["pull_request_url"].rsplit("/", 1)[-1] != str(number):
            return 404, _not_found()
        root = self._find_review_comment(repo, target.get("in_reply_to_id") or cid) or target
        new_id = next(self._ids)
        reply = json.loads(json.dumps(root))
        reply.update(
            id=new_id,
            node_id=f"PRRC_{new_id}",
            in_reply_to_id=root["id"],
            pull_request_review_id=next(self._ids),
            **self._authored(repo, body, author),
            url=f"{self.url}/repos/{repo.full_name}/pulls/comments/{new_id}",
            html_url=f"https://github.com/{repo.full_name}/pull/{number}#discussion_r{new_id}",
        )
        repo.review_comments.setdefault(number, []).append(reply)
        return 201, reply

    def _react(self, repo: RepoState, cid: int, content: str, author: str) -> tuple[int, Any]:
        """``POST .../pulls/comments/{id}/reactions``: 200 when that user already reacted so."""
        if self._find_review_comment(repo, cid) is None:
            return 404, _not_found()
        listed = repo.reactions.setdefault(cid, [])
        for r in listed:
            if r["content"] == content and r["user"]["login"] == author:
                return 200, r
        rid = next(self._ids)
        reaction = {"id": rid, "node_id": f"REA_{rid}", "user": self._user(author),
                    "content": content, "created_at": _NOW}
        listed.append(reaction)
        return 201, reaction

    def _with_rollup(self, repo: RepoState, comment: dict[str, Any]) -> dict[str, Any]:
        """A review comment with GitHub's ``reactions`` summary (counts per reaction)."""
        listed = repo.reactions.get(comment["id"], [])
        rollup: dict[str, Any] = {
            "url": f"{self.url}/repos/{repo.full_name}/pulls/comments/{comment['id']}/reactions",
            "total_count": len(listed),
        }
        rollup.update({k: sum(1 for r in listed if r["content"] == k) for k in _REACTIONS})
        return {**comment, "reactions": rollup}

    def _graphql(self, body: Any) -> tuple[int, Any]:
        """The two GraphQL operations the client uses: list review threads, resolve one."""
        if not isinstance(body, dict) or not isinstance(body.get("query"), str):
            return 400, {"message": "Problems parsing JSON"}
        query, variables = body["query"], body.get("variables") or {}
        if "resolveReviewThread" in query:
            thread = str(variables.get("thread", ""))
            for repo in self.repos.values():
                roots = {f"PRRT_{c['id']}" for cs in repo.review_comments.values() for c in cs}
                if thread in roots:
                    repo.resolved_threads.add(thread)
                    repo.thread_resolvers[thread] = self._bot_login.removesuffix("[bot]")
                    node = {"id": thread, "isResolved": True}
                    return 200, {"data": {"resolveReviewThread": {"thread": node}}}
            return 200, {
                "data": None,
                "errors": [
                    {
                        "type": "NOT_FOUND",
                        "message": f"Could not resolve to a node with the global id of '{thread}'",
                    }
                ],
            }
        if "reviewThreads" in query:
            target = self.repos.get(f"{variables.get('owner')}/{variables.get('name')}")
            if target is None:
                return 200, {
                    "data": {"repository": None},
                    "errors": [
                        {"type": "NOT_FOUND", "message": "Could not resolve to a Repository"}
                    ],
                }
            comments = target.review_comments.get(int(variables.get("number") or 0), [])
            nodes = []
            for c in comments:
                if c.get("in_reply_to_id"):
                    continue  # a reply belongs to its root's thread
                login = c["user"]["login"].removesuffix("[bot]")
                thread = f"PRRT_{c['id']}"
                nodes.append(
                    {
                        "id": thread,
                        "isResolved": thread in target.resolved_threads,
                        "resolvedBy": (
                            {"login": target.thread_resolvers[thread]}
                            if thread in target.thread_resolvers else None
                        ),
                        "comments": {"nodes": [{"body": c["body"], "author": {"login": login}}]},
                    }
                )
            threads = {"pageInfo": {"hasNextPage": False, "endCursor": None}, "nodes": nodes}
            return 200, {"data": {"repository": {"pullRequest": {"reviewThreads": threads}}}}
        return 200, {
            "data": None,
            "errors": [
                {
                    "message": "this loopback server answers only reviewThreads "
                    "and resolveReviewThread"
                }
            ],
        }

    def _list_pulls(self, repo: RepoState, query: dict[str, list[str]]) -> list[dict[str, Any]]:
        state = query.get("state", ["open"])[0]
        head = query.get("head", [None])[0]
        base = query.get("base", [None])[0]
        out = []
        for pull in sorted(repo.pulls.values(), key=lambda p: -p.number):
            if state != "all" and pull.state != state:
                continue
            if head and head != f"{pull.head_repo.split('/')[0]}:{pull.head_ref}":
                continue
            if base and base != pull.base_ref:
                continue
            out.append(self._pull_json(repo, pull))
        return out

    def _create_pull(self, repo: RepoState, body: Any) -> tuple[int, Any]:
        if not isinstance(body, dict) or not all(
            isinstance(body.get(k), str) for k in ("title", "head", "base")
        ):
            return 422, _invalid("title, head and base are required")
        head_ref = body["head"].split(":", 1)[-1]
        head_sha = repo.branch_sha(head_ref)
        if head_sha is None:
            return 422, _invalid(
                f"head {head_ref} is not a branch of {repo.full_name}", field="head"
            )
        if any(p.head_ref == head_ref and p.state == "open" for p in repo.pulls.values()):
            return 422, _invalid(f"A pull request already exists for {repo.owner}:{head_ref}.")
        number = max([0, *repo.pulls]) + 1
        pull = Pull(
            number=number,
            title=body["title"],
            body=body.get("body"),
            head_ref=head_ref,
            head_sha=head_sha,
            base_ref=body["base"],
            base_sha=repo.branch_sha(body["base"]) or "0" * 40,
            author=self._bot_login,
            head_repo=repo.full_name,
            draft=bool(body.get("draft", False)),
        )
        repo.pulls[number] = pull
        return 201, self._pull_json(repo, pull)

    def _update_pull(self, repo: RepoState, number: int, body: Any) -> tuple[int, Any]:
        pull = repo.pulls.get(number)
        if pull is None:
            return 404, _not_found()
        if not isinstance(body, dict):
            return 422, _invalid("expected an object")
        pull.head_sha = repo.branch_sha(pull.head_ref) or pull.head_sha
        if "title" in body and body["title"] is not None:
            pull.title = body["title"]
        if "body" in body and body["body"] is not None:
            pull.body = body["body"]
        if body.get("state") in ("open", "closed"):
            pull.state = body["state"]
        if body.get("base"):
            pull.base_ref = body["base"]
        return 200, self._pull_json(repo, pull)

    def _create_review(self, repo: RepoState, number: int, body: Any) -> tuple[int, Any]:
        pull = repo.pulls.get(number)
        if pull is None:
            return 404, _not_found()
        if not isinstance(body, dict):
            return 422, _invalid("expected an object")
        event = body.get("event")
        if event not in ("APPROVE", "REQUEST_CHANGES", "COMMENT", None):
            return 422, _invalid(f"event {event!r} is not one of APPROVE, REQUEST_CHANGES, COMMENT")
        if (
            event in ("REQUEST_CHANGES", "COMMENT")
            and not body.get("body")
            and not body.get("comments")
        ):
            return 422, _invalid("Review body is required", field="body")
        by_path = {f.filename: diff_lines(f.patch) for f in pull.files}
        comments = body.get("comments") or []
        for c in comments:
            error = _check_review_comment(c, by_path)
            if error:
                return 422, {
                    "message": "Unprocessable Entity",
                    "errors": [error],
                    "documentation_url": "https://docs.github.com/rest/pulls/reviews#create-a-review-for-a-pull-request",
                    "status": "422",
                }
        rid = next(self._ids)
        review: dict[str, Any] = json.loads(
            self._rewrite(self._templates["pull_review"], repo).replace("/1347", f"/{number}")
        )
        review.update(
            id=rid,
            node_id=f"PRR_{rid}",
            body=body.get("body") or "",
            body_html=body.get("body") or "",
            body_text=body.get("body") or "",
            commit_id=body.get("commit_id") or pull.head_sha,
            state={
                "APPROVE": "APPROVED",
                "REQUEST_CHANGES": "CHANGES_REQUESTED",
                "COMMENT": "COMMENTED",
            }.get(event or "", "PENDING"),
            user=self._user(self._bot_login),
            submitted_at=_NOW,
            html_url=f"https://github.com/{repo.full_name}/pull/{number}#pullrequestreview-{rid}",
        )
        repo.reviews.setdefault(number, []).append(review)
        for c in comments:
            cid = next(self._ids)
            rc: dict[str, Any] = json.loads(self._rewrite(self._templates["review_comment"], repo))
            rc.pop("in_reply_to_id", None)
            rc.update(
                id=cid,
                node_id=f"PRRC_{cid}",
                pull_request_review_id=rid,
                body=c["body"],
                body_html=c["body"],
                body_text=c["body"],
                path=c["path"],
                line=c.get("line"),
                side=c.get("side", "RIGHT"),
                start_line=c.get("start_line"),
                start_side=c.get("start_side"),
                position=c.get("line"),
                original_position=c.get("line"),
                commit_id=review["commit_id"],
                original_commit_id=review["commit_id"],
                user=self._user(self._bot_login),
                created_at=_NOW,
                updated_at=_NOW,
                url=f"{self.url}/repos/{repo.full_name}/pulls/comments/{cid}",
                pull_request_url=f"{self.url}/repos/{repo.full_name}/pulls/{number}",
            )
            repo.review_comments.setdefault(number, []).append(rc)
        return 200, review

    def _issue_comment(self, repo: RepoState, cid: int, method: str, body: Any) -> tuple[int, Any]:
        for comments in repo.issue_comments.values():
            for c in comments:
                if c["id"] == cid:
                    if method == "PATCH":
                        if not isinstance(body, dict) or not isinstance(body.get("body"), str):
                            return 422, _invalid("body is missing")
                        c.update(
                            body=body["body"],
                            body_html=body["body"],
                            body_text=body["body"],
                            updated_at=_NOW,
                        )
                    return 200, c
        return 404, _not_found()

    def _check_run(self, repo: RepoState, rid: int | None, body: Any) -> tuple[int, Any]:
        if not isinstance(body, dict):
            return 422, _invalid("expected an object")
        annotations = (body.get("output") or {}).get("annotations") or []
        if len(annotations) > 50:
            return 422, _invalid("Only 50 annotations are allowed per request", field="annotations")
        if rid is None:
            if not body.get("name") or not body.get("head_sha"):
                return 422, _invalid("name and head_sha are required")
            rid = next(self._ids)
            run: dict[str, Any] = json.loads(self._rewrite(self._templates["check_run"], repo))
            run.update(id=rid, name=body["name"], head_sha=body["head_sha"], annotations=[])
            run["url"] = f"{self.url}/repos/{repo.full_name}/check-runs/{rid}"
            repo.check_runs[rid] = run
        run = repo.check_runs.get(rid)  # type: ignore[assignment]
        if run is None:
            return 404, _not_found()
        for key in ("status", "conclusion", "details_url", "external_id"):
            if key in body:
                run[key] = body[key]
        output = body.get("output")
        if output:
            run["output"] = {
                **run.get("output", {}),
                **{k: v for k, v in output.items() if k != "annotations"},
            }
            run["annotations"].extend(annotations)
            run["output"]["annotations_count"] = len(run["annotations"])
        return (201 if len(run["annotations"]) == len(annotations) and "name" in body else 200), run


def _check_review_comment(
    c: Any, by_path: dict[str, list[tuple[set[int], set[int]]]]
) -> dict[str, Any] | None:
    def err(message: str) -> dict[str, Any]:
        return {
            "resource": "PullRequestReviewComment",
            "code": "custom",
            "field": "pull_request_review_thread.line",
            "message": message,
        }

    if (
        not isinstance(c, dict)
        or not isinstance(c.get("body"), str)
        or not isinstance(c.get("path"), str)
    ):
        return err("path and body are required")
    hunks = by_path.get(c["path"])
    if hunks is None:
        return {
            "resource": "PullRequestReviewComment",
            "code": "invalid",
            "field": "pull_request_review_thread.path",
            "message": "Path could not be resolved",
        }
    line = c.get("line")
    if not isinstance(line, int):
        return err("line is required (this server does not accept the legacy position)")
    side = c.get("side", "RIGHT")
    start = c.get("start_line")
    start_side = c.get("start_side", side)
    idx = 0 if side == "RIGHT" else 1
    hunk = next((h for h in hunks if line in h[idx]), None)
    if hunk is None:
        return err("pull_request_review_thread.line must be part of the diff")
    if start is not None:
        if not isinstance(start, int) or start >= line:
            return err("pull_request_review_thread.start_line must precede the end line")
        if start not in hunk[0 if start_side == "RIGHT" else 1]:
            return err(
                "pull_request_review_thread.start_line must be part of the same hunk as the line."
            )
    return None


def _not_found() -> dict[str, Any]:
    return {
        "message": "Not Found",
        "documentation_url": "https://docs.github.com/rest",
        "status": "404",
    }


def _invalid(message: str, *, field: str | None = None) -> dict[str, Any]:
    error: dict[str, Any] = {"resource": "Issue", "code": "custom", "message": message}
    if field:
        error["field"] = field
    return {
        "message": "Validation Failed",
        "errors": [error],
        "documentation_url": "https://docs.github.com/rest",
        "status": "422",
    }


class _Handler(BaseHTTPRequestHandler):
    owner: GitHubServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the stdlib's name
        return

    def _serve(self) -> None:
        split = urlsplit(self.path)
        length = int(self.headers.get("content-length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = None
        server = self.owner
        record = RecordedRequest(
            self.command, split.path, parse_qs(split.query), body, dict(self.headers.items())
        )
        extra: dict[str, str] = {}
        with server._lock:
            server.requests.append(record)
            secondary = server._secondary.pop(0) if server._secondary else None
            if server.rate_remaining <= 0 and time.time() >= server.rate_reset:
                server.rate_remaining = server.rate_limit
                server.rate_reset = int(time.time()) + 3600
        if self.headers.get("authorization", "") not in (
            f"token {server.token}",
            f"Bearer {server.token}",
        ):
            status, payload = (
                401,
                {
                    "message": "Bad credentials",
                    "documentation_url": "https://docs.github.com/rest",
                    "status": "401",
                },
            )
        elif secondary is not None:
            status = 403
            payload = {
                "message": "You have exceeded a secondary rate limit. "
                "Please wait a few minutes before you try again.",
                "documentation_url": "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api#about-secondary-rate-limits",
                "status": "403",
            }
            extra["retry-after"] = str(secondary)
        elif server.read_only and self.command in ("POST", "PATCH", "PUT", "DELETE"):
            # What a fork's pull_request run gets: a token that may read only.
            status = 403
            payload = {
                "message": "Resource not accessible by integration",
                "documentation_url": "https://docs.github.com/rest",
                "status": "403",
            }
        elif server.rate_remaining <= 0:
            status = 403
            payload = {
                "message": "API rate limit exceeded for installation.",
                "documentation_url": "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api",
                "status": "403",
            }
        else:
            status, payload = server.handle(self.command, split.path, record.query, body)
            with server._lock:
                server.rate_remaining = max(0, server.rate_remaining - 1)
        record.status = status
        data = json.dumps(payload).encode("utf-8")
        self.send_response(status)
        self.send_header("content-type", "application/json; charset=utf-8")
        self.send_header("content-length", str(len(data)))
        self.send_header("x-ratelimit-limit", str(server.rate_limit))
        self.send_header("x-ratelimit-remaining", str(server.rate_remaining))
        self.send_header("x-ratelimit-reset", str(server.rate_reset))
        self.send_header("x-ratelimit-used", str(server.rate_limit - server.rate_remaining))
        self.send_header("x-ratelimit-resource", "core")
        for k, v in extra.items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = _serve


__all__ = [
    "GitHubServer",
    "Pull",
    "PullFile",
    "RecordedRequest",
    "RepoState",
    "diff_lines",
    "files_from_git",
]
