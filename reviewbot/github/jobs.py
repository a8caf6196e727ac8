"""The review and migration jobs as the Action runs them, and the git chores around them."""

from __future__ import annotations

import argparse
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import pygit2
from pydantic import BaseModel

from reviewbot.config import Config
from reviewbot.errors import GitError, UsageError
from reviewbot.github.events import Trigger
from reviewbot.github.inert import code_span, inert
from reviewbot.github.migration_pr import TokenCredentials
from reviewbot.migrate import MigrationResult
from reviewbot.report.cost import cost_line
from reviewbot.review.findings import ReviewResult
from reviewbot.runtime.stats import RunStats

MAX_FILE_ROWS = 300
SHALLOW_HINT = "set `fetch-depth: 0` on actions/checkout"


def _repository(path: Path) -> pygit2.Repository:
    try:
        return pygit2.Repository(str(path))
    except pygit2.GitError:
        raise GitError(
            f"{path} is not a git checkout; run actions/checkout before reviewbot"
        ) from None


def _has(repo: pygit2.Repository, sha: str) -> bool:
    try:
        return isinstance(repo.get(sha), pygit2.Commit)
    except (ValueError, pygit2.GitError):
        return False


def ensure_commits(path: Path, shas: Iterable[str], *, token: str) -> None:
    """Fetch commits a shallow checkout lacks, or fail with one line saying how to fix it."""
    repo = _repository(path)
    missing = [s for s in shas if not _has(repo, s)]
    if not missing:
        return
    origin = repo.remotes["origin"] if "origin" in [r.name for r in repo.remotes] else None
    if origin is not None:
        try:
            # Full history of those commits: the review needs their merge base too.
            origin.fetch(
                missing,
                callbacks=(
                    TokenCredentials(token, max_attempts=2, purpose="fetch") if token else None
                ),
            )
        except (pygit2.GitError, KeyError):
            pass
        repo = _repository(path)
    still = [s for s in missing if not _has(repo, s)]
    if still:
        raise GitError(
            f"commit {still[0][:12]} is not in the checkout and could not be fetched; "
            f"{SHALLOW_HINT}"
        )


# libgit2's GIT_FETCH_DEPTH_UNSHALLOW: fetch the whole history behind a shallow boundary.
_UNSHALLOW = 2147483647


def pull_base(path: Path, base: str, head: str, *, token: str) -> str:
    """Where the pull request's own change starts: the merge base of ``base`` and ``head``.

    GitHub shows a pull request as ``merge-base(base, head)..head``; diffing from the base
    branch's tip instead would review, reversed, everything merged into it since the fork.
    A depth-1 checkout of the head has no history to find the merge base in, so the head's
    history is fetched first (the base's was fetched whole by :func:`ensure_commits`).
    Falls back to ``base`` for unrelated histories.
    """
    repo = _repository(path)
    found = _merge_base(repo, base, head)
    if found is None and repo.is_shallow and "origin" in [r.name for r in repo.remotes]:
        callbacks = TokenCredentials(token, max_attempts=2, purpose="fetch") if token else None
        try:
            repo.remotes["origin"].fetch([head], callbacks=callbacks, depth=_UNSHALLOW)
        except pygit2.GitError:
            return base  # no history to be had: review the two commits' diff as before
        found = _merge_base(_repository(path), base, head)
    return found or base


def _merge_base(repo: pygit2.Repository, a: str, b: str) -> str | None:
    try:
        found = repo.merge_base(a, b)
    except (KeyError, ValueError, pygit2.GitError):
        return None
    return str(found) if found is not None else None


def head_reader(path: Path, head: str) -> Callable[[str], str | None] | None:
    """Reads files at ``head`` straight from the object store (no checkout of untrusted code)."""
    try:
        repo = pygit2.Repository(str(path))
    except pygit2.GitError:
        return None
    if not _has(repo, head):
        return None
    tree = repo[head].peel(pygit2.Commit).tree

    def read(rel: str) -> str | None:
        try:
            entry = tree[rel]
        except KeyError:
            return None
        blob = repo[entry.id]
        if not isinstance(blob, pygit2.Blob):
            return None
        return blob.data.decode("utf-8", errors="replace")

    return read


def _result_of(value: Any) -> ReviewResult:
    if isinstance(value, ReviewResult):
        return value
    return ReviewResult.model_validate(value if isinstance(value, dict) else value.model_dump())


def run_review_job(
    path: Path,
    *,
    base: str,
    head: str,
    config: Config,
    budget_usd: float | None,
    env: Mapping[str, str],
    rules_at: str = "",
) -> ReviewResult:
    """The built-in review harness over ``base..head`` through the harness runner; the
    repository's review rules are read at ``rules_at`` (the pull request's base branch)."""
    from reviewbot.harness import builtin_harness, run_harness

    outcome = run_harness(
        builtin_harness("review"),
        {"repo": str(path), "base": base, "head": head, "uncommitted": False,
         "rules_at": rules_at},
        config=config,
        repo_path=path,
        budget_usd=budget_usd,
        env=env,
    )
    result = _result_of(outcome.result)
    result.stats = outcome.stats
    result.partial = result.partial or outcome.stats.partial
    return result


def is_ancestor(path: Path, older: str, newer: str) -> bool:
    """False after a force-push, when the old head is not in the new history."""
    repo = _repository(path)
    if not (_has(repo, older) and _has(repo, newer)):
        return False
    return older == newer or bool(repo.descendant_of(newer, older))


class MigrationRequest(BaseModel):
    instruction: str
    find: str
    template: str | None = None  # the rule tier's rewrite template
    imports: list[str] = []
    paths: list[str] = []
    branch: str | None = None
    base: str | None = None
    limit: int = 0


_USAGE = (
    'usage: /reviewbot migrate "INSTRUCTION" --find SYMBOL [--rewrite TEMPLATE] '
    "[--add-import IMPORT] [--paths GLOB] [--branch NAME] [--limit N]"
)


class _NoExitParser(argparse.ArgumentParser):
    def error(self, message: str) -> Any:  # argparse would exit the process
        raise UsageError(f"/reviewbot migrate: {message}; {_USAGE}")


def migration_request(trigger: Trigger) -> MigrationRequest:
    """From a comment command's words or workflow_dispatch inputs.

    There is no way to pass a verify command here: it comes from the repository's
    configuration (``[tool.reviewbot.migrate] verify``) only, so a comment cannot make the
    job run a command of its choosing.
    """
    if trigger.inputs:
        i = trigger.inputs
        if not i.get("instruction") or not i.get("find"):
            raise UsageError(
                "workflow_dispatch inputs `instruction` and `find` are required for a migration"
            )
        return MigrationRequest(
            instruction=i["instruction"],
            find=i["find"],
            template=i.get("rewrite") or None,
            imports=[
                x for x in (i.get("add-import") or i.get("imports") or "").split(";") if x.strip()
            ],
            paths=[x for x in (i.get("paths") or "").split(",") if x.strip()],
            branch=i.get("branch") or None,
            base=i.get("base") or None,
            limit=int(i["limit"]) if i.get("limit", "").isdigit() else 0,
        )
    parser = _NoExitParser(prog="/reviewbot migrate", add_help=False)
    parser.add_argument("instruction")
    parser.add_argument("--find", required=True)
    parser.add_argument("--rewrite", dest="template")
    parser.add_argument("--add-import", dest="imports", action="append", default=[])
    parser.add_argument("--paths", action="append", default=[])
    parser.add_argument("--branch")
    parser.add_argument("--limit", type=int, default=0)
    ns = parser.parse_args(trigger.command_args)
    return MigrationRequest(**vars(ns))


class MigrationJob(BaseModel):
    branch: str
    report_markdown: str
    changed_files: int
    cost_usd: float = 0.0
    remote_url: str | None = None
    run_id: str = ""  # the journaled run (its summary goes to the job summary)


def origin_url(path: Path) -> str | None:
    repo = _repository(path)
    for remote in repo.remotes:
        if remote.name == "origin":
            return str(remote.url)
    return None


def run_migration_job(
    path: Path,
    request: MigrationRequest,
    *,
    base: str,
    config: Config,
    budget_usd: float | None,
    env: Mapping[str, str],
) -> MigrationJob:
    """The built-in migrate harness; its result is a local branch and a report."""
    from reviewbot.harness import builtin_harness, run_harness

    params: dict[str, Any] = {
        "instruction": request.instruction,
        "repo": str(path),
        "base": base,
        "find": request.find,
        "imports": request.imports,
        "paths": request.paths,
        "limit": request.limit,
        "jobs": config.migrate.jobs,
    }
    if request.template is not None:
        params["template"] = request.template
    if request.branch is not None:
        params["branch"] = request.branch
    outcome = run_harness(
        builtin_harness("migrate"),
        params,
        config=config,
        repo_path=path,
        budget_usd=budget_usd,
        env=env,
    )
    from reviewbot.migrate import MigrationResult

    result = (
        MigrationResult.model_validate(outcome.result)
        if not isinstance(outcome.result, MigrationResult)
        else outcome.result
    )
    return MigrationJob(
        branch=result.branch,
        report_markdown=migration_markdown(result, outcome.stats),
        changed_files=result.counts().get("migrated", 0),
        cost_usd=float(outcome.stats.total.cost_usd),
        remote_url=origin_url(path),
        run_id=outcome.run_id,
    )


def migration_markdown(result: MigrationResult, stats: RunStats | None) -> str:
    """The migration report as a pull request body: counts, every file's status, failures, cost."""
    counts = result.counts()
    lines = [
        f"## Migration: {_cell(result.instruction, 200)}",
        "",
        f"Base `{result.base[:12]}` → branch `{result.branch}`; "
        f"{result.sites_found} sites in {result.files_found} files.",
        "",
        "| status | files |",
        "| --- | --- |",
        *[f"| {k} | {v} |" for k, v in sorted(counts.items())],
    ]
    tiers = result.tier_counts()
    if tiers:
        lines += [
            "",
            "Migrated by tier: " + ", ".join(f"{t} {n}" for t, n in sorted(tiers.items())),
        ]
    if result.assembly is not None and result.assembly.verify is not None:
        verify = result.assembly.verify
        lines += ["", f"Verify on the assembled branch: {'passed' if verify.passed else 'failed'}."]
    lines += ["", "| file | status | tier | why |", "| --- | --- | --- | --- |"]
    shown = result.files[:MAX_FILE_ROWS]
    for f in shown:
        path = code_span(f.path[:120]).replace("|", "\\|")
        lines.append(f"| {path} | {f.status} | {f.tier or ''} | {_cell(f.reason, 150)} |")
    if len(result.files) > len(shown):
        lines.append(f"| … | | | {len(result.files) - len(shown)} more files |")
    failures = result.failures_by_gate()
    if failures:
        lines += ["", "<details><summary>Failures by gate</summary>", ""]
        for gate, files in sorted(failures.items()):
            lines.append(f"- {gate}: " + ", ".join(code_span(f.path[:80]) for f in files[:30]))
        lines += ["", "</details>"]
    if result.stopped:
        lines += ["", f"**Partial:** the run stopped early ({result.stopped})."]
    if stats is not None:
        lines += ["", f"<sub>{cost_line(stats)}</sub>"]
    return "\n".join(lines)


def _cell(text: str, limit: int) -> str:
    # Instructions come from comments and reasons can quote model output: both are
    # rendered inert (no mentions, links, HTML or markers) before they reach the body.
    return inert(text, limit=limit, inline=True).replace("|", "\\|")
