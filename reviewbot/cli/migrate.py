"""`reviewbot migrate INSTRUCTION --find SYMBOL ...`: gated per-file migration onto one branch."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from reviewbot.cli.common import config_option
from reviewbot.cli.params import harness_options, harness_values
from reviewbot.config import load_config
from reviewbot.errors import ExitCode, UsageError
from reviewbot.harness import builtin_harness, run_harness
from reviewbot.migrate import MigrationResult
from reviewbot.migrate.uncommitted import uncommitted_site_files, uncommitted_warning
from reviewbot.report.cost import cost_line, failed_phases
from reviewbot.report.migration import render_json, render_text
from reviewbot.report.progress import make_progress
from reviewbot.runtime.errors import RunInterrupted
from reviewbot.runtime.stats import RunStats

if TYPE_CHECKING:
    from reviewbot.git import Repo


HARNESS = builtin_harness("migrate")
# The harness's parameters are the command's arguments and options (stated once, in main).
PARAMS = HARNESS.meta.parameters


@click.command()
@harness_options(PARAMS)
@click.option("--budget", type=click.FloatRange(min=0), default=None, metavar="DOLLARS")
@click.option("--max-agents", type=click.IntRange(min=1), default=None, metavar="N")
@click.option(
    "--resume",
    "resume_id",
    metavar="RUN",
    help="Resume run RUN (finished files and agent calls reused).",
)
@click.option(
    "--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True
)
@config_option
@click.option("--quiet", is_flag=True, help="No progress output (the report and cost line remain).")
@click.option(
    "--engine",
    type=click.Choice(["local", "temporal"]),
    default="local",
    show_default=True,
    help="local: this process; temporal: a durable workflow run by `reviewbot worker`s.",
)
@click.option("--temporal", "temporal_address", metavar="HOST:PORT",
              help="Temporal service (default TEMPORAL_ADDRESS or localhost:7233).")
@click.option("--namespace", metavar="NS", help="Temporal namespace (default TEMPORAL_NAMESPACE).")
@click.option("--task-queue", metavar="Q", default=None, help="Task queue the workers poll.")
@click.option("--remote", metavar="NAME|URL", default="origin", show_default=True,
              help="The shared remote the workers fetch from and push to (--engine temporal).")
@click.option("--attach", "attach_id", metavar="WORKFLOW_ID",
              help="Follow a running migration workflow to its report.")
@click.option("--batch-size", type=click.IntRange(1, 500), default=25, show_default=True,
              metavar="N", help="Files per activity (--engine temporal).")
@click.option("--max-in-flight", type=click.IntRange(1, 1000), default=16, show_default=True,
              metavar="N", help="Batches running at once across workers (--engine temporal).")
@click.option("--heartbeat-timeout", type=click.FloatRange(1, 600), default=20.0, hidden=True)
@click.option("--history-limit", type=click.IntRange(100, 40_000), default=10_000, hidden=True)
def migrate(
    budget: float | None,
    max_agents: int | None,
    resume_id: str | None,
    fmt: str,
    config_path: Path | None,
    quiet: bool,
    engine: str,
    temporal_address: str | None,
    namespace: str | None,
    task_queue: str | None,
    remote: str,
    attach_id: str | None,
    batch_size: int,
    max_in_flight: int,
    heartbeat_timeout: float,
    history_limit: int,
    **given: Any,
) -> int:
    """Migrate every call site of something, one file per worktree, gated, onto one branch."""
    if resume_id is not None and (engine == "temporal" or attach_id is not None):
        raise UsageError("a workflow resumes by itself: follow it with --attach WORKFLOW_ID")
    params = harness_values(PARAMS, given, require=False)
    if not params.get("instruction", "").strip() and attach_id is None:
        raise UsageError(
            "say what to change, e.g. reviewbot migrate "
            '"use httpx instead of requests" --find requests.get'
        )
    spec = None if attach_id is not None else HARNESS.function("spec_for")(params)
    # a dry run reads the base and spends nothing: it runs here, whatever the engine
    if (engine == "temporal" and not params.get("dry_run")) or attach_id is not None:
        from reviewbot.cli.migrate_temporal import migrate_on_temporal

        return migrate_on_temporal(
            HARNESS.function("arguments")(params), spec, config_path=config_path,
            attach_id=attach_id, fmt=fmt, quiet=quiet, address=temporal_address,
            namespace=namespace, task_queue=task_queue,
            submission=dict(
                remote=remote, budget_usd=budget, max_agents=max_agents, batch_size=batch_size,
                max_in_flight=max_in_flight, heartbeat_seconds=heartbeat_timeout,
                history_limit=history_limit,
            ),
        )
    from reviewbot.git import Repo

    repository = Repo.open(Path(params.get("repo", ".")))
    params["repo"] = str(repository.root)
    config = load_config(repository.root, config_path)
    progress = make_progress("quiet" if quiet else "auto", sys.stderr)
    try:
        outcome = run_harness(
            HARNESS,
            params,
            config=config,
            repo_path=repository.root,
            budget_usd=budget,
            run_id=resume_id,
            max_agents=max_agents,
            progress=progress,
        )
    except RunInterrupted as exc:
        stats = getattr(exc, "stats", None)
        if stats is not None:
            click.echo(cost_line(stats), err=True)
        raise
    if outcome.result is None:
        click.echo(cost_line(outcome.stats), err=True)
        click.echo(
            f"run {outcome.run_id} stopped before it had a result; "
            f"run again with --resume {outcome.run_id}",
            err=True,
        )
        return int(ExitCode.PARTIAL)
    result = MigrationResult.model_validate(outcome.result)
    return report(repository, params.get("base", "HEAD"), result, outcome.stats, fmt,
                  f"run id: {outcome.run_id}")


def report(
    repository: Repo, base: str, result: MigrationResult, stats: RunStats, fmt: str, where: str
) -> int:
    """Print the report and the cost line; the exit status of the migration."""
    site_files = [f.path for f in result.files] or [p.path for p in result.plan]
    warning = uncommitted_warning(uncommitted_site_files(repository, base, site_files), base)
    if warning is not None:
        click.echo(f"reviewbot: {warning}", err=True)
    if fmt == "json":
        click.echo(render_json(result, stats))
    else:
        click.echo(render_text(result, stats))
        click.echo(where)
    click.echo(cost_line(stats), err=True)
    nothing = result.nothing_migrated()
    if nothing is not None:
        # a run that changed nothing is not a success, whatever the reason
        click.echo(f"reviewbot: error: {nothing}", err=True)
        if failed_phases(stats):
            return int(ExitCode.ENVIRONMENT)  # no model agent answered: the service failed
        return int(ExitCode.FINDINGS)
    return int(ExitCode.OK)
