"""Migrate every call site of something, one file per task in its own worktree, onto one branch.

1. Discover the sites at the base commit; group them by file; order files so that
   definitions come before the files that import them.
2. A pipeline over the files (no barrier): worktree -> transform (rule, then the
   author agent fast -> balanced -> deep) -> gates -> commit on a task branch.
3. Assemble the passing commits onto the result branch, run --verify there once,
   bisect out the file(s) that break it.
"""

from __future__ import annotations

import inspect
import re
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any

import anyio.to_thread

from reviewbot.config import Tier
from reviewbot.errors import UsageError
from reviewbot.git import Repo, RepoView, WorktreePool, delete_branches
from reviewbot.harness import Option
from reviewbot.migrate import (
    ALL_ALREADY,
    Discovery,
    FilePlan,
    FileResult,
    LocalExecutor,
    MigrationJob,
    MigrationResult,
    MigrationSpec,
    TaskStore,
    assemble_results,
    discover,
    estimate_cost,
    order_files,
    rule_rewrite,
    sections_for_view,
    spec_from_options,
    task_for,
)
from reviewbot.runtime.api import HarnessRun

META = {
    "name": "migrate",
    "description": "Change every call site of a symbol, per file in worktrees, gated, "
    "onto one branch.",
    "phases": ["discover", "migrate", "skeptic", "assemble"],
    "max_agents": 5000,
}


# The tier ladder: the rule tier first when a template is given, then the author agent
# on each of these tiers, one try each, every try shown the previous one's gate failure.
LADDER = (Tier.FAST, Tier.BALANCED, Tier.DEEP)
# The gates every change passes, cheapest first; the first failure ends that try.
GATES = ("parse", "sites", "scope", "tests", "verify", "skeptic")


def branch_name(prefix: str, instruction: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", instruction.lower()).strip("-")[:40].strip("-") or "change"
    return f"{prefix}{slug}"


def plan_files(
    spec: MigrationSpec, view: RepoView, found: Discovery, order: list[str]
) -> list[FilePlan]:
    """The dry run's tasks: each file's sites and whether the rule tier covers it."""
    plans = []
    sections = sections_for_view(view)
    for path in order:
        plan = FilePlan(path=path, site_lines=sorted({s.line for s in found.by_file[path]}))
        if spec.has_rule:
            outcome = rule_rewrite(
                spec, path, view.read_bytes(path), found.by_file[path], sections
            )
            plan.rule_covers = not isinstance(outcome, str) or outcome == ALL_ALREADY
            plan.rule_note = outcome if isinstance(outcome, str) else ""
        plans.append(plan)
    return plans


def arguments(params: Mapping[str, Any]) -> dict[str, Any]:
    """``main``'s parameters as given, with its defaults for the rest."""
    bound = inspect.signature(main).bind_partial(None, **params)
    bound.apply_defaults()
    return {k: v for k, v in bound.arguments.items() if k != "run"}


def spec_for(params: Mapping[str, Any]) -> MigrationSpec:
    """What to find and how to rewrite it, from ``main``'s parameters (one UsageError line
    when they do not add up): the command line checks its input with this before a run."""
    a = arguments(params)
    return spec_from_options(
        find=a["find"], query=a["query"], language=a["language"], template=a["template"],
        imports=a["imports"], rule_file=a["rule"], paths=a["paths"],
        prune_imports=not a["keep_imports"], site_capture=a["site_capture"],
    )


def crashed(run: HarnessRun, index: int, path: str, found: Discovery) -> FileResult:
    """The result of a task that raised (the runtime recorded the error)."""
    error = next((f.error for f in run.failures if f.item == index), "")
    return FileResult(
        path=path,
        site_lines=sorted({s.line for s in found.by_file[path]}),
        status="failed",
        failed_gate="internal",
        reason="the task raised an error",
        output=error,
    )


def partial(run: HarnessRun, job: MigrationJob, result: MigrationResult, limit: int) -> bool:
    """Whether a later run would pick up where this one stopped: a --limit sample, a stopped
    run, or tasks without a final outcome (no model for them, or they raised). Such a run
    keeps its task branches: a later run reuses the task commits, and the branches keep
    those commits from git's garbage collection."""
    sample = 0 < limit < result.files_found
    crashed_tasks = any(f.failed_gate == "internal" for f in result.files)
    return sample or run.stopped or job.tally.unfinished > 0 or crashed_tasks


async def main(
    run: HarnessRun,
    instruction: Annotated[str, "what to change, in words", Option(comment=True)],
    find: Annotated[str | None, "qualified name whose calls to migrate (requests.get)",
                    Option(metavar="SYMBOL", comment=True)] = None,
    query: Annotated[str | None, "a tree-sitter query instead of --find (needs --lang)",
                     Option(metavar="FILE", from_file=True)] = None,
    language: Annotated[str | None, "language of --query (python, javascript, ...)",
                        Option("--lang", metavar="LANG")] = None,
    template: Annotated[str | None, "deterministic rewrite: 'join({args})' ({args}, {callee}, "
                        "{0}, {call}, query captures)",
                        Option("--rewrite", metavar="TEMPLATE", comment=True)] = None,
    imports: Annotated[list[str] | None, "import line the rewrite needs (repeatable), added "
                       "when missing", Option("--add-import", metavar="LINE", comment=True)] = None,
    keep_imports: Annotated[bool, "keep imports the rewrite leaves unused (by default Python "
                            "files drop them)"] = False,
    rule: Annotated[Path | None, "a rule file (TOML or YAML): find/query, template, imports",
                    Option(metavar="FILE")] = None,
    site_capture: Annotated[str, "the query capture that marks a site",
                            Option(hidden=True)] = "site",
    paths: Annotated[list[str] | None, "only files matching (repeatable)",
                     Option(metavar="GLOB", comment=True, separator=",")] = None,
    verify: Annotated[str | None, "shell command that must pass in each worktree and on the "
                      "result", Option(metavar="CMD")] = None,
    verify_timeout: Annotated[float, "seconds the verify command may take",
                              Option(metavar="SECONDS", minimum=1)] = 600.0,
    branch: Annotated[str | None, "result branch (default reviewbot/migrate-<slug>)",
                      Option(metavar="NAME", comment=True)] = None,
    limit: Annotated[int, "only the first N files; a later full run reuses what they finished",
                     Option(metavar="N", minimum=0, comment=True)] = 0,
    jobs: Annotated[int | None, "files in parallel, one worktree each (default migrate.jobs)",
                    Option(metavar="N", minimum=1, maximum=256)] = None,
    dry_run: Annotated[bool, "show sites, planned tasks, rule coverage and a cost range"] = False,
    keep_task_branches: Annotated[
        bool, "keep the per-file reviewbot/tasks/... branches after a finished run"] = False,
    base: Annotated[str, "commit to migrate from", Option(metavar="REV", comment=True)] = "HEAD",
    repo: Annotated[str, "the repository (a path inside it)", Option(metavar="PATH")] = ".",
) -> MigrationResult:
    spec = spec_for({k: v for k, v in locals().items() if k != "run"})  # main's parameters
    started = time.monotonic()
    repository = Repo.open(repo)
    base_sha = repository.resolve(base)
    view = RepoView.at(repository, base_sha)
    target = branch or branch_name(run.config.migrate.branch_prefix, instruction)
    verify = verify or run.config.migrate.verify
    if repository.checked_out_branch() == target:
        raise UsageError(f"branch {target} is checked out in your working tree; pass --branch NAME")

    with run.phase("discover"):
        found = await anyio.to_thread.run_sync(discover, view, spec)
        order = await anyio.to_thread.run_sync(order_files, list(found.by_file), view)
    result = MigrationResult(
        instruction=instruction,
        base=base_sha,
        branch=target,
        dry_run=dry_run,
        models_available=run.models_available,
        files_found=len(order),
        sites_found=found.site_count,
        discovery_skipped=found.skipped,
    )
    if limit > 0:
        order = order[:limit]

    if dry_run:
        result.plan = await anyio.to_thread.run_sync(plan_files, spec, view, found, order)
        needing = [p for p in result.plan if not p.rule_covers]
        result.estimate = estimate_cost(run.config, [view.read_bytes(p.path) for p in needing])
        result.wall_seconds = time.monotonic() - started
        return result

    if not run.models_available:
        run.skip_phase("migrate (model tier)", "no model configured; only the rule tier runs")
    store = TaskStore(repository.state_dir / "migrate.sqlite")
    try:
        async with WorktreePool(repository, size=jobs or run.config.migrate.jobs) as pool:
            job = MigrationJob(
                run=run,
                repo=repository,
                base=base_sha,
                spec=spec,
                instruction=instruction,
                verify=verify,
                verify_timeout=verify_timeout,
                pool=pool,
                store=store,
                task_branch_prefix=f"reviewbot/tasks/{target.rsplit('/', 1)[-1]}-{base_sha[:8]}",
                total_files=len(order),
                rules_in_memory=not run.config.migrate.rules_in_worktrees,
                ladder=LADDER,
                gates=GATES,
            )
            with run.phase("migrate"):
                tasks = [task_for(job, path, found.by_file[path]) for path in order]
                done = await LocalExecutor().run(job, tasks)
            result.files = [
                r if r is not None else crashed(run, i, path, found)
                for i, (path, r) in enumerate(zip(order, done, strict=True))
            ]
            with run.phase("assemble"):
                result.assembly = await assemble_results(job, result.files, target)
            if not keep_task_branches and not partial(run, job, result, limit):
                names = [job.task_branch(f.path) for f in result.files if f.commit]
                deleted = await anyio.to_thread.run_sync(delete_branches, repository, names)
                result.task_branches_deleted = len(deleted)
            result.timings = dict(job.tally.seconds)
            result.peak_worktrees = job.tally.peak_worktrees
    finally:
        store.close()
    result.stopped = run.stop_reason
    result.wall_seconds = time.monotonic() - started
    return result
