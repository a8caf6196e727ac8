"""Answers in review threads: a person asks reviewbot about one of its findings.

The question must be a reply in the thread of an inline comment the bot wrote (its first
comment carries the finding's marker). Anyone may ask why; a request for an action (fix,
dismiss, review, push...) from someone without write access gets a polite refusal and no
model call. The answer comes from the ``answer`` harness (one agent, read-only tools over the
head) and is posted in the same thread, rendered inert.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import github3
from pydantic import BaseModel

from reviewbot.config import Config
from reviewbot.errors import GitHubError
from reviewbot.github.client import raw_json
from reviewbot.github.events import Trigger
from reviewbot.github.feedback import permission_checker
from reviewbot.github.inert import inert
from reviewbot.github.tracking import TrackedFinding, TrackingState, fingerprints_in

ANSWER_MARKER = "<!-- reviewbot:answer -->"
MAX_ANSWER = 6_000
MAX_THREAD_CHARS = 12_000
_ACTION = re.compile(
    r"\b(fix(es|ed)?|apply|commit|push|merge|approve|dismiss|resolve|re-?review|review again|"
    r"migrate|revert|delete|close)\b",
    re.IGNORECASE,
)
REFUSAL = (
    "@{login} thanks for asking. Only people with write access to this repository can ask "
    "reviewbot to act on a finding; a maintainer can do it for you. Questions about the "
    "finding are welcome."
)


class AnswerOutcome(BaseModel):
    posted: bool = False
    refused: bool = False
    reason: str = ""
    stands: bool | None = None
    cost_usd: float = 0.0


def asks_for_action(text: str) -> bool:
    return _ACTION.search(text) is not None


def _thread(comments: list[Mapping[str, Any]], root_id: int) -> list[Mapping[str, Any]]:
    return sorted(
        (c for c in comments if c.get("id") == root_id or c.get("in_reply_to_id") == root_id),
        key=lambda c: int(c["id"]),
    )


def _thread_text(rows: list[Mapping[str, Any]]) -> str:
    parts = [f"[{(c.get('user') or {}).get('login', '?')}]\n{c.get('body') or ''}" for c in rows]
    text = "\n\n".join(parts)
    return text[-MAX_THREAD_CHARS:]  # the newest messages matter most


def _reply(gh: github3.GitHub, repository: str, number: int, root_id: int, body: str) -> None:
    raw_json(gh, "POST", f"/repos/{repository}/pulls/{number}/comments/{root_id}/replies",
             {"body": body})


def answer_in_thread(
    gh: github3.GitHub,
    *,
    repository: str,
    workspace: Path,
    trigger: Trigger,
    config: Config,
    state: TrackingState | None,
    budget_usd: float | None,
    env: Mapping[str, str],
) -> AnswerOutcome:
    """Answer ``trigger``'s question in its thread (or refuse politely, or skip and say why)."""
    number, root_id = trigger.pr_number, trigger.in_reply_to_id
    login = trigger.commenter or ""
    if number is None or root_id is None or not trigger.head_sha:
        return AnswerOutcome(reason="the event names no pull request thread")
    comments = raw_json(gh, "GET", f"/repos/{repository}/pulls/{number}/comments?per_page=100")
    rows = _thread(list(comments or []), root_id)
    root = next((c for c in rows if c.get("id") == root_id), None)
    bot = config.github.bot_login
    if root is None or (root.get("user") or {}).get("login") != bot:
        return AnswerOutcome(reason="the thread is not one of reviewbot's comments")
    fingerprints = fingerprints_in(str(root.get("body") or ""))
    if not fingerprints:
        return AnswerOutcome(reason="the thread's comment names no finding")
    question = next((c for c in rows if c.get("id") == trigger.comment_id), rows[-1])
    if not permission_checker(gh, repository)(login) and asks_for_action(
        str(question.get("body") or "")
    ):
        _reply(gh, repository, number, root_id,
               inert(REFUSAL.format(login=login), limit=600) + "\n\n" + ANSWER_MARKER)
        return AnswerOutcome(posted=True, refused=True, reason=f"{login} has no write access")
    from reviewbot.models.access import model_access

    if model_access(dict(env)) is None:
        return AnswerOutcome(reason="no model service is configured; questions are not answered")
    tracked: TrackedFinding | None = (state.findings.get(next(iter(fingerprints)))
                                      if state is not None else None)
    line = int(root.get("line") or root.get("original_line") or 1)
    start = int(root.get("start_line") or line)
    params: dict[str, Any] = {
        "repo": str(workspace),
        "head": trigger.head_sha,
        "path": str(root.get("path") or ""),
        "start_line": start,
        "end_line": line,
        "finding": str(root.get("body") or ""),
        "votes": "\n".join(tracked.votes) if tracked is not None else "",
        "thread": _thread_text([c for c in rows if int(c["id"]) <= int(question["id"])]),
    }
    from reviewbot.harness import builtin_harness, run_harness

    outcome = run_harness(builtin_harness("answer"), params, config=config,
                          repo_path=workspace, budget_usd=budget_usd, env=env)
    result = outcome.result
    text = str(getattr(result, "answer", None) or (result or {}).get("answer", "")).strip()
    if not text:
        raise GitHubError("the answering agent gave no answer; nothing was posted")
    stands = getattr(result, "stands", None)
    if stands is None and isinstance(result, Mapping):
        stands = result.get("stands")
    _reply(gh, repository, number, root_id,
           inert(text, repo=repository, limit=MAX_ANSWER) + "\n\n" + ANSWER_MARKER)
    return AnswerOutcome(posted=True, stands=bool(stands) if stands is not None else None,
                         cost_usd=float(outcome.stats.total.cost_usd))
