"""Dismissals: what people with write access said about the bot's inline comments.

Three signals on the thread of one of our comments (the root comment carries the finding's
fingerprint marker): a 👎 reaction on it, a reply that starts with "false positive" or
"won't fix", and a ``/reviewbot dismiss [reason]`` line in a reply. Each counts only when
its author has write access (admin, maintain or write), checked with GitHub's collaborator
permission endpoint; anyone else's reaction or reply changes nothing.

The signals live on GitHub and are read again on every review, so a dismissal holds even
when the summary's tracking state cannot be verified (for example a job whose only secret
is the per-run ``GITHUB_TOKEN``).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import github3

from reviewbot.config import Severity
from reviewbot.errors import GitHubError
from reviewbot.github.client import raw_json
from reviewbot.github.events import WRITE_PERMISSIONS
from reviewbot.github.tracking import Dismissal, Signal, fingerprints_in

_REPLY = re.compile(r"\A\s*(false[ -]positive|won'?t fix|wontfix)\b[\s.:,;!-]*(.*)",
                    re.IGNORECASE | re.DOTALL)
_COMMAND = re.compile(r"^\s*/reviewbot\s+dismiss\b[ \t]*(.*)$", re.IGNORECASE | re.MULTILINE)
_HEAD = re.compile(r"\*\*(\w+)\*\* · ([^·\n]+)")
_TITLE = re.compile(r"^\*\*(.+)\*\*$", re.MULTILINE)
MAX_REASON = 300
MAX_REACTION_PAGES = 5


def reply_dismissal(body: str) -> tuple[Signal, str] | None:
    """The dismissal a reply's text asks for, with its reason; None when it asks for none."""
    command = _COMMAND.search(body or "")
    if command is not None:
        return Signal.COMMAND, command.group(1).strip()[:MAX_REASON]
    reply = _REPLY.match(body or "")
    if reply is not None:
        said = reply.group(1).lower().replace("-", " ")
        label = "false positive" if said.startswith("false") else "won't fix"
        rest = " ".join(reply.group(2).split())
        return Signal.REPLY, (f"{label}: {rest}" if rest else label)[:MAX_REASON]
    return None


def dismissals(
    comments: Iterable[Mapping[str, Any]],
    *,
    bot_login: str,
    can_write: Callable[[str], bool],
    thumbs_down: Callable[[Mapping[str, Any]], list[str]],
    resolved: Mapping[str, str] | None = None,
) -> dict[str, Dismissal]:
    """Fingerprint -> the first valid dismissal on the thread of our comment for it.

    ``comments`` are the pull request's review comments as GitHub lists them (raw JSON);
    ``thumbs_down(root)`` gives the logins that reacted 👎 on a root comment of ours;
    ``resolved`` who resolved the thread of a fingerprint (the caller keeps only findings
    whose code did not change: a resolved thread of fixed code is no dismissal).
    """
    rows = list(comments)
    roots: dict[int, str] = {}
    shown: dict[str, dict[str, Any]] = {}  # what each root comment says about its finding
    for c in rows:
        if c.get("in_reply_to_id") or _login(c) != bot_login:
            continue
        for fp in fingerprints_in(str(c.get("body") or "")):
            roots[int(c["id"])] = fp
            shown[fp] = _shown(c)
    found: dict[str, Dismissal] = {}
    # Replies first, in the order they were written: they carry a reason.
    for c in sorted(rows, key=lambda c: int(c["id"])):
        parent = roots.get(int(c.get("in_reply_to_id") or 0))
        login = _login(c)
        if parent is None or parent in found or login == bot_login or _is_bot(c):
            continue
        asked = reply_dismissal(str(c.get("body") or ""))
        if asked is not None and can_write(login):
            found[parent] = Dismissal(fingerprint=parent, by=login, signal=asked[0],
                                      reason=asked[1], **shown[parent])
    for c in rows:
        mine = roots.get(int(c["id"]))
        if mine is None or mine in found:
            continue
        for login in thumbs_down(c):
            if login != bot_login and can_write(login):
                found[mine] = Dismissal(fingerprint=mine, by=login, signal=Signal.REACTION,
                                        **shown[mine])
                break
    for fp, login in (resolved or {}).items():
        if fp in shown and fp not in found and login != bot_login and can_write(login):
            found[fp] = Dismissal(fingerprint=fp, by=login, signal=Signal.RESOLVED, **shown[fp])
    return found


def _shown(comment: Mapping[str, Any]) -> dict[str, Any]:
    """Path, line, severity, category and title of the finding one of our comments shows
    (see :func:`render.inline_body`: a severity/category line, then the title in bold)."""
    body = str(comment.get("body") or "")
    head = _HEAD.search(body)
    title = _TITLE.search(body)
    line = comment.get("line") or comment.get("original_line") or 1
    out: dict[str, Any] = {"path": str(comment.get("path") or ""),
                           "line": int(line) if isinstance(line, int) else 1}
    if head is not None and head.group(1) in {s.value for s in Severity}:
        out.update(severity=Severity(head.group(1)), category=head.group(2).strip())
    if title is not None:
        out["title"] = title.group(1).strip()[:300]
    return out


def _login(comment: Mapping[str, Any]) -> str:
    return str((comment.get("user") or {}).get("login") or "")


def _is_bot(comment: Mapping[str, Any]) -> bool:
    return (comment.get("user") or {}).get("type") == "Bot"


def permission_checker(gh: github3.GitHub, repository: str) -> Callable[[str], bool]:
    """Whether a login has write access to ``repository`` (asked once per login)."""
    known: dict[str, bool] = {}

    def can_write(login: str) -> bool:
        if login not in known:
            try:
                data = raw_json(gh, "GET", f"/repos/{repository}/collaborators/{login}/permission")
            except GitHubError:
                data = None  # not a collaborator (404) or not visible: no write access
            role = str((data or {}).get("role_name") or (data or {}).get("permission") or "none")
            known[login] = role in WRITE_PERMISSIONS
        return known[login]

    return can_write


def thumbs_down_reader(
    gh: github3.GitHub, repository: str
) -> Callable[[Mapping[str, Any]], list[str]]:
    """Logins that reacted 👎 on a review comment. GitHub's ``reactions`` summary in the
    comment, when present, saves the request for comments nobody reacted 👎 to."""

    def read(comment: Mapping[str, Any]) -> list[str]:
        summary = comment.get("reactions")
        if isinstance(summary, Mapping) and not summary.get("-1"):
            return []
        logins: list[str] = []
        base = f"/repos/{repository}/pulls/comments/{int(comment['id'])}/reactions"
        for page in range(1, MAX_REACTION_PAGES + 1):
            rows = raw_json(gh, "GET", f"{base}?content=-1&per_page=100&page={page}") or []
            logins += [str((r.get("user") or {}).get("login") or "") for r in rows
                       if r.get("content") == "-1"]
            if len(rows) < 100:
                break
        return [login for login in logins if login]

    return read


def collect_dismissals(
    gh: github3.GitHub,
    repository: str,
    comments: Iterable[Mapping[str, Any]],
    bot_login: str,
    resolved: Mapping[str, str] | None = None,
) -> dict[str, Dismissal]:
    """The dismissals on the threads of our comments, read over the REST API (and who
    resolved which thread, read over GraphQL by the caller)."""
    return dismissals(
        comments,
        bot_login=bot_login,
        can_write=permission_checker(gh, repository),
        thumbs_down=thumbs_down_reader(gh, repository),
        resolved=resolved,
    )
