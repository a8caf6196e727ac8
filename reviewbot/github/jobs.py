"""The review and migration jobs as the Action runs them, and the git chores around them."""

from __future__ import annotations

import argparse
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from reviewbot.config import Config
from reviewbot.errors import GitError, UsageError
from reviewbot.git import PlainRepo, TokenCredentials
from reviewbot.github.events import Trigger
from reviewbot.github.inert import code_span, inert
from reviewbot.harness.loader import HarnessMeta, ParamSpec
from reviewbot.migrate import MigrationResult
from reviewbot.report.cost import cost_line
from reviewbot.review.findings import ReviewResult
from reviewbot.runtime.stats import RunStats

MAX_FILE_ROWS = 300
SHALLOW_HINT = "set `fetch-depth: 0` on actions/checkout"


def _repository(path: Path) -> PlainRepo:
    try:
        return PlainRepo(path)
    except GitError:
        raise GitError(
            f"{path} is not a git checkout; run actions/checkout before reviewbot"
        ) from None


def _fetch_credentials(token: str) -> TokenCredentials | None:
    return TokenCredentials(token, max_attempts=2, purpose="fetch") if token else None


def ensure_commits(path: Path, shas: Iterable[str], *, token: str) -> None:
    """Fetch commits a shallow checkout lacks, or fail with one line saying how to fix it."""
    repo = _repository(path)
    missing = [s for s in shas if not repo.has_commit(s)]
    if not missing:
        return
    if repo.remote_url("origin") is not None:
        try:
            # Full history of those commits: the review needs their merge base too.
            repo.fetch(missing, remote="origin", credentials=_fetch_credentials(token))
        except (GitError, KeyError):
            pass
        repo = _repository(path)
    still = [s for s in missing if not repo.has_commit(s)]
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
    found = repo.merge_base(base, head)
    if found is None and repo.is_shallow and repo.remote_url("origin") is not None:
        try:
            repo.fetch([head], remote="origin", credentials=_fetch_credentials(token),
                       depth=_UNSHALLOW)
        except GitError:
            return base  # no history to be had: review the two commits' diff as before
        found = _repository(path).merge_base(base, head)
    return found or base


def head_reader(path: Path, head: str) -> Callable[[str], str | None] | None:
    """Reads files at ``head`` straight from the object store (no checkout of untrusted code)."""
    try:
        repo = PlainRepo(path)
    except GitError:
        return None
    if not repo.has_commit(head):
        return None

    def read(rel: str) -> str | None:
        data = repo.read_file(head, rel)
        return data.decode("utf-8", errors="replace") if data is not None else None

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
    return _repository(path).is_ancestor(older, newer)


def _comment_params() -> dict[str, ParamSpec]:
    """The migrate harness's parameters a comment or a workflow_dispatch may set (its
    ``Option(comment=True)`` ones): never a verify command or a file to read."""
    from reviewbot.harness import builtin_harness

    params = builtin_harness("migrate").meta.parameters
    return {name: spec for name, spec in params.items() if spec.option.comment}


def _usage(params: Mapping[str, ParamSpec]) -> str:
    words = ["usage: /reviewbot migrate"]
    for name, spec in params.items():
        flag, metavar = spec.option.flag_for(name), spec.option.metavar or name.upper()
        if spec.required:
            words.append(f'"{name.upper()}"')
        elif name == "find":  # a comment has no --query: the finder is the symbol
            words.append(f"{flag} {metavar}")
        else:
            words.append(f"[{flag} {metavar}]")
    return " ".join(words)


class _NoExitParser(argparse.ArgumentParser):
    usage_line = ""

    def error(self, message: str) -> Any:  # argparse would exit the process
        raise UsageError(f"/reviewbot migrate: {message}; {self.usage_line}")


def migration_request(trigger: Trigger) -> dict[str, Any]:
    """The migrate harness's parameters from a comment command's words or workflow_dispatch
    inputs, parsed by what the harness declares (``Option(comment=True)``).

    There is no way to pass a verify command here: it comes from the repository's
    configuration (``[tool.reviewbot.migrate] verify``) only, so a comment cannot make the
    job run a command of its choosing.
    """
    params = _comment_params()
    meta = HarnessMeta(name="migrate", parameters=params)
    if trigger.inputs:
        given: dict[str, Any] = {}
        for name, spec in params.items():
            raw = (trigger.inputs.get(spec.option.input_for(name)) or "").strip()
            if not raw:
                continue
            if spec.type.startswith("list["):
                given[name] = [x.strip() for x in raw.split(spec.option.separator) if x.strip()]
            else:
                given[name] = raw
        if not given.get("instruction") or not given.get("find"):
            raise UsageError(
                "workflow_dispatch inputs `instruction` and `find` are required for a migration"
            )
        return _typed(meta, given)
    parser = _NoExitParser(prog="/reviewbot migrate", add_help=False)
    parser.usage_line = _usage(params)
    for name, spec in params.items():
        if spec.required:
            parser.add_argument(name)
            continue
        kind = {"int": int, "float": float, "list[int]": int}.get(spec.type, str)
        many = spec.type.startswith("list[")
        parser.add_argument(spec.option.flag_for(name), dest=name, type=kind,
                            action="append" if many else "store", required=name == "find")
    ns = parser.parse_args(trigger.command_args)
    return _typed(meta, {k: v for k, v in vars(ns).items() if v is not None})


def _typed(meta: HarnessMeta, given: dict[str, Any]) -> dict[str, Any]:
    """What was given, typed; the rest is left to the harness's defaults (and the job's
    base to the pull request's)."""
    from reviewbot.harness import coerce_params

    return {k: v for k, v in coerce_params(meta, given).items() if k in given}


class MigrationJob(BaseModel):
    branch: str
    report_markdown: str
    changed_files: int
    cost_usd: float = 0.0
    remote_url: str | None = None
    run_id: str = ""  # the journaled run (its summary goes to the job summary)


def origin_url(path: Path) -> str | None:
    return _repository(path).remote_url("origin")


def run_migration_job(
    path: Path,
    request: Mapping[str, Any],
    *,
    base: str,
    config: Config,
    budget_usd: float | None,
    env: Mapping[str, str],
) -> MigrationJob:
    """The built-in migrate harness; its result is a local branch and a report."""
    from reviewbot.harness import builtin_harness, run_harness

    params = {**request, "repo": str(path), "base": base}
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
