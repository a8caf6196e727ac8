"""The Actions environment and what a webhook event asks reviewbot to do.

Everything in an event payload that a person typed (titles, bodies, comments, branch names)
is untrusted. Parsing only pulls out identifiers (numbers, commit ids, logins, the action)
and the literal command line of a ``/reviewbot`` comment; none of it chooses what is posted.
"""

from __future__ import annotations

import json
import re
import shlex
from collections.abc import Mapping
from enum import StrEnum
from pathlib import Path
from typing import Any

from pydantic import BaseModel, SecretStr

from reviewbot.config import GitHubConfig
from reviewbot.errors import UsageError
from reviewbot.github.client import DEFAULT_API_URL

PR_ACTIONS = frozenset({"opened", "synchronize", "reopened", "ready_for_review"})
_COMMAND = re.compile(r"^\s*/reviewbot\s+(review|migrate|fix)\b(.*)$", re.MULTILINE)
ALWAYS = re.compile(r"^\s*/reviewbot\s+review\s+always\b", re.IGNORECASE | re.MULTILINE)
_FIX = re.compile(r"^\s*/reviewbot\s+fix\b", re.IGNORECASE | re.MULTILINE)
_SHA = re.compile(r"^[0-9a-f]{40}$")
_MENTION = re.compile(r"(?:^|[^\w/@])[@/]reviewbot\b", re.IGNORECASE)
_DISMISS = re.compile(r"^\s*/reviewbot\s+dismiss\b", re.IGNORECASE | re.MULTILINE)
WRITE_PERMISSIONS = frozenset({"admin", "maintain", "write"})


class ActionEnv(BaseModel):
    """The standard variables a GitHub Actions job sees."""

    event_name: str
    event_path: Path
    repository: str  # "owner/name"
    token: SecretStr
    api_url: str = DEFAULT_API_URL
    server_url: str = "https://github.com"
    workspace: Path
    step_summary: Path | None = None
    output: Path | None = None
    ref: str | None = None
    sha: str | None = None

    @classmethod
    def from_env(cls, env: Mapping[str, str], *, cwd: Path) -> ActionEnv:
        missing = [
            n
            for n in ("GITHUB_EVENT_NAME", "GITHUB_EVENT_PATH", "GITHUB_REPOSITORY")
            if not env.get(n)
        ]
        if missing:
            raise UsageError(
                f"{', '.join(missing)} not set; `reviewbot action` runs inside GitHub Actions "
                "(or set these variables yourself)"
            )
        if "/" not in env["GITHUB_REPOSITORY"]:
            raise UsageError("GITHUB_REPOSITORY must be owner/name")

        def path(name: str) -> Path | None:
            return Path(env[name]) if env.get(name) else None

        return cls(
            event_name=env["GITHUB_EVENT_NAME"],
            event_path=Path(env["GITHUB_EVENT_PATH"]),
            repository=env["GITHUB_REPOSITORY"],
            token=SecretStr(env.get("GITHUB_TOKEN", "")),
            api_url=env.get("REVIEWBOT_GITHUB_API_URL")
            or env.get("GITHUB_API_URL")
            or DEFAULT_API_URL,
            server_url=env.get("GITHUB_SERVER_URL") or "https://github.com",
            workspace=path("GITHUB_WORKSPACE") or cwd,
            step_summary=path("GITHUB_STEP_SUMMARY"),
            output=path("GITHUB_OUTPUT"),
            ref=env.get("GITHUB_REF") or None,
            sha=env.get("GITHUB_SHA") or None,
        )

    def load_event(self) -> dict[str, Any]:
        try:
            data = json.loads(self.event_path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise UsageError(
                f"cannot read the event file {self.event_path} ({exc}); check GITHUB_EVENT_PATH"
            ) from None
        if not isinstance(data, dict):
            raise UsageError(f"event file {self.event_path} is not a JSON object")
        return data


class Task(StrEnum):
    REVIEW = "review"
    MIGRATE = "migrate"
    ANSWER = "answer"  # a question to reviewbot in the thread of one of its comments
    FIX = "fix"  # /reviewbot fix: apply suggested replacements as one commit
    SKIP = "skip"  # nothing to do for this event; say why and exit 0


class Trigger(BaseModel):
    """What an event asks for, in identifiers only."""

    task: Task
    reason: str = ""
    pr_number: int | None = None
    base_sha: str | None = None
    head_sha: str | None = None
    before_sha: str | None = None  # on synchronize: the head before the push
    head_ref: str | None = None
    base_ref: str | None = None
    is_fork: bool = False
    incremental: bool = False  # review only before..after
    commenter: str | None = None  # set for comment commands: needs write access
    comment_id: int | None = None
    in_reply_to_id: int | None = None  # the thread's first comment, for a reply in a thread
    # review_on leaves this event out unless `/reviewbot review always` subscribed the PR
    only_if_subscribed: bool = False
    command_args: list[str] = []  # the words after `/reviewbot migrate`
    inputs: dict[str, str] = {}  # workflow_dispatch inputs


def _sha(value: Any) -> str | None:
    return value if isinstance(value, str) and _SHA.match(value) else None


def _pull_fields(pr: Mapping[str, Any], repository: str) -> dict[str, Any]:
    head = pr.get("head") or {}
    base = pr.get("base") or {}
    head_repo = (head.get("repo") or {}).get("full_name")
    return {
        "pr_number": int(pr["number"]),
        "head_sha": _sha(head.get("sha")),
        "base_sha": _sha(base.get("sha")),
        "head_ref": head.get("ref"),
        "base_ref": base.get("ref"),
        # A deleted fork has no repo: treat it as a fork, the safe side.
        "is_fork": head_repo != repository,
    }


def parse_event(
    event_name: str,
    payload: Mapping[str, Any],
    *,
    repository: str,
    config: GitHubConfig,
    mode: str = "review",
) -> Trigger:
    """Decide what to do for one event. Never raises for events we do not handle: it skips."""
    if event_name in ("pull_request", "pull_request_target"):
        action = payload.get("action")
        if action not in PR_ACTIONS:
            return Trigger(task=Task.SKIP, reason=f"pull_request action '{action}' is not reviewed")
        pr = payload.get("pull_request") or {}
        if pr.get("state") == "closed":
            return Trigger(task=Task.SKIP, reason="the pull request is closed")
        if pr.get("draft") and not config.review_drafts:
            return Trigger(
                task=Task.SKIP,
                reason="draft pull request skipped "
                "(set review_drafts = true in [tool.reviewbot.github] to review drafts)",
            )
        fields = _pull_fields(pr, repository)
        before = _sha(payload.get("before")) if action == "synchronize" else None
        automatic = config.review_on == "push" or (
            config.review_on == "open" and action != "synchronize")
        return Trigger(
            task=Task.REVIEW,
            before_sha=before,
            incremental=before is not None,
            reason=f"pull_request {action}",
            only_if_subscribed=not automatic,
            **fields,
        )

    if event_name == "issue_comment":
        if payload.get("action") != "created":
            return Trigger(task=Task.SKIP, reason="only new comments carry commands")
        issue = payload.get("issue") or {}
        comment = payload.get("comment") or {}
        body = comment.get("body") or ""
        match = _COMMAND.search(body)
        if match is None:
            return Trigger(task=Task.SKIP, reason="the comment has no /reviewbot command")
        skipped = _not_taken(comment, config)
        if skipped is not None:
            return skipped
        user = comment.get("user") or {}
        verb, rest = match.group(1), match.group(2).strip()
        try:
            args = shlex.split(rest)
        except ValueError:
            args = rest.split()
        task = {"review": Task.REVIEW, "fix": Task.FIX}.get(verb, Task.MIGRATE)
        if task in (Task.REVIEW, Task.FIX) and not issue.get("pull_request"):
            return Trigger(
                task=Task.SKIP, reason=f"/reviewbot {verb} works on pull request comments only"
            )
        return Trigger(
            task=task,
            reason=f"/reviewbot {verb} comment",
            pr_number=int(issue["number"]) if issue.get("pull_request") else None,
            commenter=str(user.get("login") or ""),
            comment_id=int(comment["id"]) if comment.get("id") is not None else None,
            command_args=args,
            # The command asks for a full review of the pull request as it is now.
            incremental=False,
        )

    if event_name == "pull_request_review_comment":
        return _thread_reply(payload, repository, config)

    if event_name == "workflow_dispatch":
        raw_inputs = payload.get("inputs") or {}
        inputs = {str(k): str(v) for k, v in raw_inputs.items() if v is not None}
        task = Task.MIGRATE if (inputs.get("mode") or mode) == "migrate" else Task.SKIP
        if task is Task.SKIP:
            return Trigger(
                task=task, reason="workflow_dispatch runs migrations only (mode: migrate)"
            )
        return Trigger(
            task=task,
            reason="workflow_dispatch",
            inputs=inputs,
            base_ref=_branch(payload.get("ref")),
        )

    return Trigger(task=Task.SKIP, reason=f"event '{event_name}' is not handled")


def _not_taken(comment: Mapping[str, Any], config: GitHubConfig) -> Trigger | None:
    """Why a comment addressed to reviewbot is not acted on (disabled, or from a bot)."""
    if not config.comment_commands:
        return Trigger(
            task=Task.SKIP, reason="comment commands are disabled (comment_commands = false)"
        )
    if (comment.get("user") or {}).get("type") == "Bot":
        return Trigger(task=Task.SKIP, reason="commands from bots are ignored")
    return None


def _thread_reply(
    payload: Mapping[str, Any], repository: str, config: GitHubConfig
) -> Trigger:
    """A reply that mentions reviewbot in the thread of a review comment: a question."""
    if payload.get("action") != "created":
        return Trigger(task=Task.SKIP, reason="only new review comments ask reviewbot")
    comment = payload.get("comment") or {}
    body = str(comment.get("body") or "")
    if not _MENTION.search(body):
        return Trigger(task=Task.SKIP, reason="the review comment does not mention reviewbot")
    skipped = _not_taken(comment, config)
    if skipped is not None:
        return skipped
    user = comment.get("user") or {}
    root = comment.get("in_reply_to_id")
    if not isinstance(root, int):
        return Trigger(task=Task.SKIP, reason="not a reply in the thread of a review comment")
    if _DISMISS.search(body):
        return Trigger(task=Task.SKIP, reason="a dismissal takes effect at the next review")
    fields = _pull_fields(payload.get("pull_request") or {}, repository)
    fix = _FIX.search(body) is not None
    return Trigger(
        task=Task.FIX if fix else Task.ANSWER,
        reason="/reviewbot fix in a review thread" if fix else "a question in a review thread",
        commenter=str(user.get("login") or ""),
        comment_id=int(comment["id"]) if isinstance(comment.get("id"), int) else None,
        in_reply_to_id=root,
        **fields,
    )


def _branch(ref: Any) -> str | None:
    if isinstance(ref, str) and ref.startswith("refs/heads/"):
        return ref[len("refs/heads/") :]
    return None
