"""`/reviewbot fix`: apply the bot's suggested replacements as one commit on the PR branch.

In a thread it fixes that finding; on the pull request, every open finding whose comment
has a suggestion. The replacements come from our own inline comments (the ``suggestion``
block, on the lines GitHub shows it at the head now), never from the command's text. They
pass the migration gates before anything is pushed: every file still parses, nothing
changes outside the suggested lines, and ``[tool.reviewbot.migrate] verify`` (when set)
passes in an isolated worktree of the fixed head. One commit on top of the head, pushed
without force (a branch that moved meanwhile is left alone); then the threads are resolved.
A fork's branch is never pushed to.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import anyio
import github3
from pydantic import BaseModel

from reviewbot.config import Config
from reviewbot.errors import GitError, GitHubError
from reviewbot.git import PlainRepo, TokenCredentials
from reviewbot.github.client import raw_json
from reviewbot.github.events import Trigger
from reviewbot.github.inert import inert
from reviewbot.github.jobs import ensure_commits, origin_url
from reviewbot.github.publish import previous_state
from reviewbot.github.threads import resolve_fixed_threads
from reviewbot.github.tracking import TrackingState, TrackStatus, fingerprints_in
from reviewbot.migrate.gates import FileChange, GateResult, parse_gate, scope_gate, verify_gate

_SUGGESTION = re.compile(r"^(`{3,})suggestion\n(.*?)^\1$", re.MULTILINE | re.DOTALL)
_WS = re.compile(r"\s+")
COMMITTER = ("reviewbot", "reviewbot@users.noreply.github.com")
VERIFY_TIMEOUT = 600.0


class Fix(BaseModel):
    fingerprint: str
    comment_id: int
    path: str
    start_line: int
    end_line: int
    replacement: str
    title: str = ""


class Skipped(BaseModel):
    fingerprint: str
    path: str
    reason: str


class FixOutcome(BaseModel):
    pushed: str | None = None  # the commit pushed to the pull request's branch
    fixed: list[Fix] = []
    skipped: list[Skipped] = []
    gates: list[GateResult] = []
    refused: str = ""  # why nothing was attempted (a fork, no suggestion...)


def suggestion_in(body: str) -> str | None:
    """The replacement of one of our comments (its ``suggestion`` block), if it has one."""
    match = _SUGGESTION.search(body or "")
    return match.group(2) if match else None


def _title(body: str) -> str:
    match = re.search(r"^\*\*(.+)\*\*$", body or "", re.MULTILINE)
    return match.group(1).strip()[:200] if match else ""


def fixes_from_comments(
    comments: list[Mapping[str, Any]],
    *,
    bot_login: str,
    state: TrackingState | None,
    only_root: int | None = None,
) -> tuple[list[Fix], list[Skipped]]:
    """The fixes our open inline comments suggest (``only_root``: that thread's only)."""
    fixes: list[Fix] = []
    skipped: list[Skipped] = []
    for c in comments:
        if c.get("in_reply_to_id") or (c.get("user") or {}).get("login") != bot_login:
            continue
        if only_root is not None and c.get("id") != only_root:
            continue
        body = str(c.get("body") or "")
        fps = fingerprints_in(body)
        if not fps:
            continue
        fp, path = next(iter(fps)), str(c.get("path") or "")
        tracked = state.findings.get(fp) if state is not None else None
        if tracked is not None and tracked.status is not TrackStatus.OPEN:
            skipped.append(Skipped(fingerprint=fp, path=path, reason=f"it is {tracked.status}"))
            continue
        replacement = suggestion_in(body)
        if replacement is None:
            skipped.append(Skipped(fingerprint=fp, path=path, reason="it suggests no fix"))
            continue
        line = c.get("line")
        if not isinstance(line, int):  # GitHub: the comment is outdated at the head
            skipped.append(Skipped(fingerprint=fp, path=path,
                                   reason="its lines changed since the comment"))
            continue
        first = c.get("start_line")
        start = first if isinstance(first, int) else line
        fixes.append(Fix(fingerprint=fp, comment_id=int(c["id"]), path=path, start_line=start,
                         end_line=line, replacement=replacement, title=_title(body)))
    return fixes, skipped


def _apply(text: str, fixes: list[Fix]) -> tuple[str, list[Fix], list[Skipped]]:
    """``text`` with ``fixes`` (of one file) applied bottom-up; overlapping ones are skipped."""
    lines = text.splitlines(keepends=True)
    applied: list[Fix] = []
    skipped: list[Skipped] = []
    floor = len(lines) + 1
    for fix in sorted(fixes, key=lambda f: -f.start_line):
        if fix.end_line > len(lines) or fix.start_line < 1:
            skipped.append(Skipped(fingerprint=fix.fingerprint, path=fix.path,
                                   reason="its lines are past the end of the file"))
            continue
        if fix.end_line >= floor:
            skipped.append(Skipped(fingerprint=fix.fingerprint, path=fix.path,
                                   reason="it overlaps another fix"))
            continue
        new = fix.replacement if fix.replacement.endswith("\n") or not fix.replacement \
            else fix.replacement + "\n"
        lines[fix.start_line - 1: fix.end_line] = [new] if new else []
        floor = fix.start_line
        applied.append(fix)
    return "".join(lines), applied, skipped


async def _verify(workspace: Path, head: str, after: dict[str, bytes], command: str) -> GateResult:
    from reviewbot.git import Repo, WorktreePool

    async with WorktreePool(Repo.open(workspace), size=1, keep=False) as pool:
        async with pool.checkout(head) as wt:
            for path, data in after.items():
                target = wt.path / path
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(data)
            return await verify_gate(command, wt.path, timeout=VERIFY_TIMEOUT)


def apply_fixes(
    workspace: Path,
    *,
    head: str,
    head_ref: str,
    fixes: list[Fix],
    skipped: list[Skipped],
    config: Config,
    remote_url: str,
    token: str,
) -> FixOutcome:
    """Gate ``fixes`` and push them as one commit on ``head_ref``; nothing on a failed gate."""
    repo = PlainRepo(workspace)
    by_path: dict[str, list[Fix]] = {}
    for fix in fixes:
        by_path.setdefault(fix.path, []).append(fix)
    out = FixOutcome(skipped=list(skipped))
    before: dict[str, bytes] = {}
    after: dict[str, bytes] = {}
    for path, group in by_path.items():
        data = repo.read_file(head, path)
        if data is None:
            out.skipped += [Skipped(fingerprint=f.fingerprint, path=path,
                                    reason="the file is gone at the head") for f in group]
            continue
        text, applied, left = _apply(data.decode("utf-8"), group)
        out.skipped += left
        if applied:
            before[path], after[path] = data, text.encode("utf-8")
            out.fixed += applied
    if not out.fixed:
        return out
    changes = [FileChange(p, before[p], after[p]) for p in after]
    out.gates.append(parse_gate(changes))
    for path in after:
        lines = {n for f in out.fixed if f.path == path
                 for n in range(f.start_line, f.end_line + 1)}
        out.gates.append(scope_gate(path, [c for c in changes if c.path == path], lines))
    if all(g.passed for g in out.gates) and config.migrate.verify:
        out.gates.append(anyio.run(_verify, workspace, head, after, config.migrate.verify))
    if not all(g.passed for g in out.gates):
        return out
    listed = "\n".join(f"- {f.path}:{f.start_line} {f.title or 'suggested fix'} "
                       f"({f.fingerprint[:8]})" for f in sorted(out.fixed, key=lambda f: f.path))
    message = (f"reviewbot: apply {len(out.fixed)} suggested fix"
               f"{'es' if len(out.fixed) != 1 else ''}\n\n{listed}\n")
    local = f"reviewbot/fix-{head[:12]}"
    new = repo.commit_files(head, after, message, local, COMMITTER)
    try:
        # No force: if the branch moved since the head we fixed, the push is refused.
        repo.push(remote_url, [f"refs/heads/{local}:refs/heads/{head_ref}"],
                  TokenCredentials(token, max_attempts=2))
    except GitError as exc:
        raise GitHubError(f"pushing the fixes to {head_ref} failed: {exc}; the branch may "
                          "have moved (run the command again) or the token may not push") from None
    out.pushed = new
    return out


def fix_report(out: FixOutcome) -> str:
    """What happened, for the thread or the pull request (paths and reasons are ours)."""
    rows: list[str] = []
    if out.refused:
        return out.refused
    failed = [g for g in out.gates if not g.passed]
    if out.pushed:
        rows.append(f"Pushed {out.pushed[:7]} with {len(out.fixed)} suggested fix"
                    f"{'es' if len(out.fixed) != 1 else ''}:")
        rows += [f"- `{f.path}:{f.start_line}` {f.title}" for f in out.fixed]
    elif failed:
        rows.append("Nothing was pushed: the fix did not pass the "
                    + ", ".join(g.gate for g in failed) + " gate.")
        rows += ["", "```", *[g.output.strip()[:1500] for g in failed], "```"]
    else:
        rows.append("Nothing to fix: no open finding here has a suggestion.")
    if out.skipped:
        rows += ["", "Not applied:"]
        rows += [f"- `{s.path}` ({s.fingerprint[:8]}): {s.reason}" for s in out.skipped]
    return "\n".join(rows)


def fix_on_request(
    gh: github3.GitHub,
    *,
    repository: str,
    api_url: str,
    workspace: Path,
    server_url: str,
    trigger: Trigger,
    config: Config,
    state_key: bytes,
    token: str,
) -> FixOutcome:
    """``/reviewbot fix`` from someone with write access (the caller checked): gate, push,
    resolve the fixed threads and report where the command was given."""
    number, root = trigger.pr_number, trigger.in_reply_to_id
    assert number is not None
    owner, name = repository.split("/", 1)
    pull = gh.pull_request(owner, name, number)
    if pull is None:
        raise GitHubError(f"pull request #{number} not found with this token")
    head, head_ref = str(pull.head.sha), str(pull.head.ref)
    # github3 keeps the head repository as (owner, name); a deleted fork has neither.
    owner_name = "/".join(part for part in getattr(pull.head, "repo", ("", "")) if part)
    head_repo = owner_name or None
    if head_repo != repository:
        out = FixOutcome(refused=(
            f"This pull request's branch is in {head_repo or 'a deleted fork'}: reviewbot does "
            "not push to a fork's branch. Apply the suggestions from the review comments "
            "(\"Commit suggestion\") instead."))
    else:
        ensure_commits(workspace, [head], token=token)
        comments = list(raw_json(gh, "GET", f"/repos/{repository}/pulls/{number}/comments"
                                 "?per_page=100") or [])
        state = previous_state(pull, config.github.bot_login, state_key)
        fixes, skipped = fixes_from_comments(comments, bot_login=config.github.bot_login,
                                             state=state, only_root=root)
        out = apply_fixes(workspace, head=head, head_ref=head_ref, fixes=fixes,
                          skipped=skipped, config=config,
                          remote_url=origin_url(workspace)
                          or f"{server_url.rstrip('/')}/{repository}.git", token=token)
        if out.pushed:
            resolve_fixed_threads(gh, api_url=api_url, repository=repository, number=number,
                                  fixed=[f.fingerprint for f in out.fixed],
                                  bot_login=config.github.bot_login)
    body = inert(fix_report(out), repo=repository, limit=6_000)
    if root is not None:
        raw_json(gh, "POST", f"/repos/{repository}/pulls/{number}/comments/{root}/replies",
                 {"body": body})
    else:
        raw_json(gh, "POST", f"/repos/{repository}/issues/{number}/comments", {"body": body})
    return out
